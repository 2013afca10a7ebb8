"""Time to detect and time to recover, measured from the fault's start, for every run.

Each figure is in seconds from the start of the method's first action (None when its signal
never showed):

  detect.client        the first client request that failed ended (the first user who saw it)
  detect.alert         the first Prometheus alert firing (ALERTS{alertstate="firing"})
  detect.lb            the load balancer first had fewer app replicas in rotation than at the start
  recover.client       the last failed client request ended (fault window and recovery window)
  recover.steady       the steady-state hypothesis after the method had passed (the journal's end
                       of its last probe), when it passed
  outage               the longest stretch in which no client request succeeded: from the end of
                       the last success before it to the end of the first success after it
                       (all requests stuck or failing); its start and end are in outage_window
  error_budget         failed requests over the fault and recovery windows, against the budget a
                       99.9 % availability objective allows for the requests made in them

The client figures are a pure function of the request log; the server ones read series
sampled from Prometheus at 1 s (so they are as precise as its scrapes: about a second).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.load.clientlog import Request, Span, longest_gap
from harness.metrics.series import ServerSignal

SLO_AVAILABILITY = 0.999
Points = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Timing:
    fault_start: float
    detect: dict[str, float | None] = field(default_factory=dict)
    recover: dict[str, float | None] = field(default_factory=dict)
    outage_s: float | None = None
    outage_window: tuple[float, float] | None = None
    error_budget: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"fault_start": self.fault_start, "detect": dict(self.detect), "recover": dict(self.recover),
                "outage_s": self.outage_s, "outage_window": list(self.outage_window) if self.outage_window else None,
                "error_budget": dict(self.error_budget)}

    @classmethod
    def from_dict(cls, data: Any) -> Timing | None:
        """A Timing read back from verdict.json; None for anything that is not one."""
        if not isinstance(data, Mapping):
            return None
        window = data.get("outage_window")
        return cls(float(data.get("fault_start") or 0.0), dict(data.get("detect") or {}),
                   dict(data.get("recover") or {}), data.get("outage_s"),
                   (float(window[0]), float(window[1])) if isinstance(window, list | tuple) and len(window) == 2
                   else None, dict(data.get("error_budget") or {}))


def _since(start: float, at_ms: float | None) -> float | None:
    return None if at_ms is None else round(at_ms / 1000.0 - start, 3)


def longest_outage(rows: Sequence[Request], start: float, end: float) -> tuple[float, float] | None:
    """(from, to) in seconds: the longest gap between successive successful responses (by the
    time each ended) that overlaps [start, end]; None with fewer than two successes."""
    return _OutageWatch(start, end).over(sorted(rows, key=lambda r: r.end_ms)).best


class _OutageWatch:
    """The longest gap between successive success ends that overlaps [start, end], fed the
    requests in the order they ended."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.before: float | None = None
        self.best: tuple[float, float] | None = None

    def add(self, r: Request) -> None:
        if not r.success:
            return
        after = r.end_ms / 1000.0
        before, self.before = self.before, after
        if before is None or after < self.start or before > self.end:
            return
        if self.best is None or after - before > self.best[1] - self.best[0]:
            self.best = (before, after)

    def over(self, rows: Iterable[Request]) -> _OutageWatch:
        for r in rows:
            self.add(r)
        return self


def outage_span(rows: Sequence[Request], start: float, end: float) -> Span | None:
    """The longest stretch overlapping [start, end] in which no client request succeeded
    (`longest_gap` over the successes' ends); None when no request overlaps the window."""
    if not any(r.end_ms >= start * 1000 and r.ts_ms <= end * 1000 for r in rows):
        return None
    ends = sorted(r.end_ms / 1000.0 for r in rows if r.success)
    return longest_gap(ends, start, end, max(end, max(r.end_ms for r in rows) / 1000.0))


def recovery_span(rows: Sequence[Request], start: float, end: float) -> Span | None:
    """Seconds from `start` to the end of the last failed request that ended after it, when a
    request succeeded after that one (recovered); open, to the log's end, when none did (not
    recovered while the log ran). 0 when no request failed and the log covers the window to
    `end`; None when it does not (the log stops before the window ends: nothing to judge)."""
    after = [r for r in rows if r.end_ms >= start * 1000]
    if not after:
        return None
    failed = [r.end_ms for r in after if not r.success]
    last_end = max(r.end_ms for r in after)
    if not failed:
        return Span(0.0) if last_end >= end * 1000 else None
    last_failure = max(failed)
    if any(r.success and r.end_ms > last_failure for r in after):
        return Span(round(last_failure / 1000.0 - start, 3))
    return Span(round(last_end / 1000.0 - start, 3), open=True)


def client_timing(rows: Sequence[Request], start: float, end: float) -> Timing:
    """The client figures of a run whose fault started at `start`; `end`: the end of the
    recovery window (the end of the load)."""
    return client_timing_by_end(sorted(rows, key=lambda r: r.end_ms), start, end)


def client_timing_by_end(rows: Iterable[Request], start: float, end: float) -> Timing:
    """`client_timing` over requests given in the order they ended (a log read in a stream:
    nothing is kept but the figures)."""
    inside = failed = 0
    first_failed: float | None = None
    last_failed: float | None = None
    watch = _OutageWatch(start, end)
    for r in rows:
        watch.add(r)
        if not start * 1000 <= r.end_ms <= end * 1000:
            continue
        inside += 1
        if not r.success:
            failed += 1
            first_failed = r.end_ms if first_failed is None else min(first_failed, r.end_ms)
            last_failed = r.end_ms if last_failed is None else max(last_failed, r.end_ms)
    outage = watch.best
    budget = inside * (1 - SLO_AVAILABILITY)
    return Timing(
        fault_start=start,
        detect={"client": _since(start, first_failed)},
        recover={"client": _since(start, last_failed)},
        outage_s=round(outage[1] - outage[0], 3) if outage else None, outage_window=outage,
        error_budget={"failed": failed, "requests": inside, "objective": SLO_AVAILABILITY,
                      "consumed": round(failed / budget, 4) if budget else None})


def first_at(points: Points, start: float, test: Callable[[float], bool]) -> float | None:
    """Seconds from `start` to the first point at or after it whose value passes `test`."""
    for t, v in points:
        if t >= start and test(v):
            return round(t - start, 3)
    return None


def drop_detection(points: Points, start: float) -> float | None:
    """When the series fell below its value at the fault's start (e.g. fewer replicas in the
    load balancer's rotation)."""
    before = [v for t, v in points if t <= start]
    if not before:
        return None
    baseline = before[-1]
    return first_at(points, start, lambda v: v < baseline)


Matrix = Callable[[str, float, float], list[list[tuple[float, float]]]]


def sample_server(matrix: Matrix, start: float, end: float, signals: Mapping[str, ServerSignal]) -> dict[str, Points]:
    """The series each server signal is read from (`matrix`: a Prometheus range query), from
    5 s before the fault's start (the baseline of a "drops" signal) to `end`."""
    return {name: next(iter(matrix(s.query, start - 5, max(end, start + 1))), []) for name, s in signals.items()}


def server_detection(series: Mapping[str, Points], start: float,
                     signals: Mapping[str, ServerSignal]) -> dict[str, float | None]:
    """Seconds from `start` to each server signal's sign."""
    def detect(signal: ServerSignal, points: Points) -> float | None:
        if signal.rule == "drops":
            return drop_detection(points, start)
        return first_at(points, start, lambda v: v >= 1)
    return {name: detect(signals[name], points) for name, points in series.items()}


def with_server(timing: Timing, series: Mapping[str, Points], steady_at: float | None,
                signals: Mapping[str, ServerSignal]) -> Timing:
    """The client timing with the server-side figures added."""
    start = timing.fault_start
    return Timing(start, {**timing.detect, **server_detection(series, start, signals)},
                  {**timing.recover, "steady": round(steady_at - start, 3) if steady_at else None},
                  timing.outage_s, timing.outage_window, timing.error_budget)


def outages(rows: Sequence[Request], min_gap_s: float) -> list[tuple[float, float]]:
    """Every stretch longer than `min_gap_s` with no successful response, as (from, to) in
    seconds: the end of the last success before it and the end of the first success after."""
    ends = sorted(r.end_ms / 1000.0 for r in rows if r.success)
    return [(before, after) for before, after in itertools.pairwise(ends) if after - before > min_gap_s]
