"""Stop conditions: `abort_when` in an experiment's devsim extension, watched every second
while the fault is in place. When one trips, the method stops (Chaos Toolkit's graceful exit:
the rollbacks run at once) and the verdict is `aborted`, with the condition and the figure.

    extensions:
      - name: devsim
        abort_when:
          - name: more than 20 % of client requests fail
            figure: client_error_ratio   # or client_p95_ms: over the last `over` seconds
            over: 5
            above: 0.2
          - name: no app replica is up
            promql: 'sum(up{job="app"}) or vector(0)'  # an instant query; its first sample
            below: 1

A condition is evaluated from the moment the method's first action starts until the method
ends; a figure with nothing to measure yet (no request in the window, an empty result) does
not trip it. So a `below` condition must say what an empty result is: when every target of a
job is gone its series are gone too, and `sum(up{job="app"})` returns nothing rather than 0;
validation asks for `or vector(N)` (or `absent(...)`) in such a query.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.load import clientlog
from harness.metrics.prometheus import Prometheus
from harness.verdict.record import Abort, extension, extension_list

FIGURES = ("client_error_ratio", "client_p95_ms")
_EMPTY_SAID = re.compile(r"\bor\s+vector\s*\(|\babsent(_over_time)?\s*\(")
MAX_OVER_S = 300.0


@dataclass(frozen=True)
class Condition:
    name: str
    figure: str  # one of FIGURES, or "" for a PromQL condition
    promql: str
    above: float | None
    below: float | None
    over: float = 5.0

    def describe(self) -> str:
        what = f"{self.figure} over {self.over:g} s" if self.figure else f"PromQL {self.promql!r}"
        return f"{what} {'above ' + format(self.above, 'g') if self.above is not None else ''}" \
               f"{'below ' + format(self.below, 'g') if self.below is not None else ''}"

    def trips(self, value: float) -> bool:
        return (self.above is not None and value > self.above) or (self.below is not None and value < self.below)


def raw_conditions(experiment: Mapping[str, Any]) -> list[Any]:
    return extension_list(experiment, "abort_when")


def conditions(experiment: Mapping[str, Any]) -> list[Condition]:
    """The declared stop conditions, parsed (call after `condition_problems` found none)."""
    return [Condition(str(c["name"]), str(c.get("figure") or ""), str(c.get("promql") or ""),
                      float(c["above"]) if "above" in c else None, float(c["below"]) if "below" in c else None,
                      float(c.get("over", 5))) for c in raw_conditions(experiment)]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def condition_problems(experiment: Mapping[str, Any]) -> list[str]:
    """Every problem of the stop conditions, one line each (PromQL syntax is checked live)."""
    if "abort_when" in extension(experiment) and not isinstance(extension(experiment)["abort_when"], list):
        return ["'abort_when' must be a list of stop conditions"]
    found: list[str] = []
    for n, raw in enumerate(raw_conditions(experiment), start=1):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
            found.append(f"stop condition #{n} must be a mapping with a name")
            continue
        where = f"stop condition {raw['name']!r}"
        unknown = sorted(set(raw) - {"name", "figure", "promql", "above", "below", "over"})
        if unknown:
            found.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        if ("figure" in raw) == ("promql" in raw):
            found.append(f"{where} needs exactly one of figure ({', '.join(FIGURES)}) or promql")
        elif "figure" in raw and raw["figure"] not in FIGURES:
            found.append(f"{where}: figure must be one of {', '.join(FIGURES)}, got {raw['figure']!r}")
        elif "promql" in raw and (not isinstance(raw["promql"], str) or not raw["promql"].strip()):
            found.append(f"{where}: promql must be a PromQL expression")
        if ("above" in raw) == ("below" in raw):
            found.append(f"{where} needs exactly one of above or below")
        elif not _number(raw.get("above", raw.get("below"))):
            found.append(f"{where}: the threshold must be a number")
        if "over" in raw and (not _number(raw["over"]) or not 0 < raw["over"] <= MAX_OVER_S):
            found.append(f"{where}: over must be a number of seconds above 0 and at most {MAX_OVER_S:g}")
        if "below" in raw and isinstance(raw.get("promql"), str) and not _EMPTY_SAID.search(raw["promql"]):
            found.append(f"{where}: a below condition never trips on an empty result (every series gone); "
                         "end the query with `or vector(0)`")
        if "over" in raw and "promql" in raw:
            found.append(f"{where}: over is for client figures; a PromQL condition sets its own range")
    return found


@dataclass(frozen=True)
class Tripped:
    condition: Condition
    value: float
    at: float  # seconds since the epoch
    fault_start: float

    def reason(self) -> str:
        return (f"aborted: stop condition {self.condition.name!r} tripped {self.at - self.fault_start:.1f} s into "
                f"the fault ({self.condition.describe()}; measured {self.value:.6g}); the rollbacks ran")

    def record(self) -> Abort:
        c = self.condition
        return Abort(c.name, c.figure, c.promql, c.above, c.below, c.over, self.value, self.at,
                     round(self.at - self.fault_start, 3))


Measure = Callable[[Condition, float], float | None]


class Watch:
    """Evaluates the conditions every `interval` seconds while `fault()` gives a start and the
    method runs; on the first that trips, records it and calls `stop_method` once."""

    def __init__(self, found: list[Condition], measure: Measure, fault: Callable[[], float | None],
                 method_running: Callable[[], bool], stop_method: Callable[[], None], interval: float = 1.0) -> None:
        self._conditions, self._measure, self._fault = found, measure, fault
        self._running, self._stop_method, self._interval = method_running, stop_method, interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="devsim-abort-watch", daemon=True)
        self.tripped: Tripped | None = None
        self.errors: list[str] = []

    def __enter__(self) -> Watch:
        if self._conditions:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._done.wait(self._interval):
            start = self._fault()
            if start is None or not self._running():
                continue
            now = time.time()
            for condition in self._conditions:
                try:
                    value = self._measure(condition, now)
                except Exception as exc:  # a figure that cannot be read now does not stop the fault
                    self.errors.append(f"{condition.name}: {type(exc).__name__}: {exc}")
                    continue
                if value is not None and condition.trips(value):
                    self.tripped = Tripped(condition, value, now, start)
                    if self._running() and not self._done.is_set():
                        self._stop_method()
                    return


def measurer(request_log: Path, prometheus_url: str) -> Measure:
    """How a run measures its conditions: the tail of the client request log (read
    incrementally), or an instant query to Prometheus."""
    log = clientlog.Follower(request_log, keep_s=MAX_OVER_S)
    prometheus = Prometheus(prometheus_url, timeout=2.0)

    def measure(condition: Condition, now: float) -> float | None:
        if condition.figure:
            rows = clientlog.within(log.rows(), now - condition.over, now)
            if not rows:
                return None
            if condition.figure == "client_error_ratio":
                return clientlog.error_ratio(rows)
            return clientlog.percentile([r.latency_ms for r in rows], 95)
        samples = prometheus.vector(condition.promql)
        return samples[0].value if samples else None

    return measure
