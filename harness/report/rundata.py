"""One run folder read back into what its report shows: verdict, client series, events, failures.

Everything here comes from files the run wrote (verdict.json or summary.json, journal.json,
requests.csv, server_series.json), so a report can be re-rendered long after the stack is gone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.chaos.claims import journal_ts
from harness.errors import UsageError
from harness.load.digest import Digest, digest
from harness.load.results import REQUEST_LOG
from harness.runs import RunFiles
from harness.verdict import trials
from harness.verdict.record import FAILED, HELD, NO_EVIDENCE, STATUSES, Claim, Verdict

SERVER_SERIES, VERDICT, SUMMARY, JOURNAL = RunFiles.SERVER_SERIES, RunFiles.VERDICT, RunFiles.SUMMARY, RunFiles.JOURNAL


@dataclass(frozen=True)
class Event:
    """One activity of the journal: where it ran (phase), its kind, name, times and status."""

    phase: str
    kind: str
    name: str
    start: float
    end: float
    status: str


@dataclass(frozen=True)
class FailureGroup:
    """Failed requests of one name and error, with the first and last start time."""

    name: str
    error: str
    count: int
    first_ms: int
    last_ms: int


@dataclass(frozen=True)
class ClientSeries:
    """Per-second client figures, by the second in which each request started."""

    seconds: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    p50: list[float | None] = field(default_factory=list)
    p95: list[float | None] = field(default_factory=list)
    p99: list[float | None] = field(default_factory=list)


@dataclass(frozen=True)
class KeyFigures:
    error_ratio: float | None
    p95_ms: float | None
    rto_s: float | None
    requests: int


@dataclass(frozen=True)
class RunData:
    run_id: str
    run_dir: Path
    kind: str  # experiment or load
    title: str
    status: str
    reason: str
    started: float
    ended: float
    claims: tuple[Claim, ...]
    fault_window: tuple[float, float] | None
    recovery_window: tuple[float, float] | None
    events: list[Event]
    client: ClientSeries
    failures: list[FailureGroup]
    server: dict[str, Any]
    versions: dict[str, Any]
    audit: dict[str, Any] | None
    figures: KeyFigures
    links: list[str]
    control: dict[str, Any] | None = None  # made under a negative control of `devsim run --prove`
    controls: tuple[dict[str, Any], ...] = ()  # --prove: the control runs of this (shipped) run
    trials: dict[str, Any] | None = None  # --repeat: trials.json of the series this run opened
    timing: dict[str, Any] | None = None  # time to detect and to recover (harness.verdict.timing)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.ended - self.started)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc


def _run_file(path: Path, statuses: tuple[str, ...]) -> dict[str, Any]:
    """A run's verdict.json or summary.json, refused when it is not one (no run id, no status
    a run ends with): such a folder would be recorded as a run dated 1970."""
    head = _read_json(path)
    if not isinstance(head, dict) or not head.get("run_id") or head.get("status") not in statuses:
        raise UsageError(f"{path} is not a devsim run's {path.name}: it needs a run_id and a status "
                         f"({', '.join(statuses)})")
    return head


def events(journal: dict[str, Any]) -> list[Event]:
    """Every activity the journal recorded, in the order it started."""
    found: list[Event] = []

    def add(phase: str, record: dict[str, Any]) -> None:
        activity = record.get("activity") or {}
        if not record.get("start"):
            return
        start = journal_ts(record["start"])
        end = journal_ts(record["end"]) if record.get("end") else start
        found.append(Event(phase, str(activity.get("type", "?")), str(activity.get("name", "?")), start, end,
                           str(record.get("status", "?"))))

    states = journal.get("steady_states") or {}
    for probe in (states.get("before") or {}).get("probes", []):
        add("steady state before", probe)
    for record in journal.get("run", []):
        add("method", record)
    for probe in (states.get("after") or {}).get("probes", []):
        add("steady state after", probe)
    for record in journal.get("rollbacks", []):
        add("rollbacks", record)
    return sorted(found, key=lambda e: e.start)


def client_series(found: Digest) -> ClientSeries:
    """Requests, failures and latency percentiles per second of start time, gaps filled with zero."""
    return ClientSeries([float(s) for s in found.seconds], found.requests, found.failures,
                        found.percentiles[50], found.percentiles[95], found.percentiles[99])


def failure_groups(found: Digest) -> list[FailureGroup]:
    """Failed requests grouped by name and error, the largest group first."""
    return [FailureGroup(*group) for group in found.failure_groups()]


def _window(data: dict[str, Any] | None) -> tuple[float, float] | None:
    if not data:
        return None
    return float(data["start"]), float(data["end"])


def _slo_claim(result: dict[str, Any]) -> Claim:
    """One SLO of a load run as a claim, so that both kinds of run show the same table."""
    measured = result.get("measured")
    missing = measured is None or (isinstance(measured, float) and math.isnan(measured))
    outcome = NO_EVIDENCE if missing else HELD if result.get("passed") else FAILED
    return Claim(str(result["expression"]), f"client: Locust's {result['metric']}",
                 f"{result['op']} {result['threshold']}", measured, outcome)


def key_figures(found: Digest, claims: tuple[Claim, ...]) -> KeyFigures:
    """Whole-run client error ratio and p95, and the RTO when a claim is marked `figure: rto`."""
    ratio = found.error_ratio
    p95 = found.percentile(95)
    rto = next((c.measured for c in claims if c.figure == "rto"), None)
    return KeyFigures(None if math.isnan(ratio) else round(ratio, 6), None if math.isnan(p95) else p95,
                      float(rto) if isinstance(rto, int | float) else None, found.total)


def load(run_dir: Path) -> RunData:
    """Reads a run folder written by `devsim run` (verdict.json) or `devsim load` (summary.json)."""
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run folder")
    verdict_path, summary_path = run_dir / VERDICT, run_dir / SUMMARY
    if verdict_path.exists():
        head: dict[str, Any] = _run_file(verdict_path, STATUSES)
        try:
            verdict = Verdict.from_dict(head)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise UsageError(f"{verdict_path} is not a devsim run's verdict: {type(exc).__name__}: {exc}") from exc
        kind, title = "experiment", verdict.experiment or run_dir.name
        claims = verdict.claims
    elif summary_path.exists():
        head = _run_file(summary_path, ("passed", "failed"))
        kind, title = "load", f"Load test: {head.get('users', '?')} users for {head.get('run_time_s', '?')} s"
        claims = tuple(_slo_claim(s) for s in head.get("slos", []))
    else:
        raise UsageError(f"{run_dir}: neither {VERDICT} nor {SUMMARY} is there; is this a run folder?")
    journal = _read_json(run_dir / JOURNAL) if (run_dir / JOURNAL).exists() else {}
    log = run_dir / REQUEST_LOG
    client = digest(log) if log.exists() else Digest()  # one pass, in memory that does not grow with the run
    server = _read_json(run_dir / SERVER_SERIES) if (run_dir / SERVER_SERIES).exists() else {}
    found_events = events(journal)
    starts = ([client.first_ms / 1000] if client.first_ms is not None else []) + [e.start for e in found_events[:1]]
    ends = [client.last_end_ms / 1000] if client.last_end_ms is not None else []
    ends += [e.end for e in found_events]
    started = float(head.get("started") or (min(starts) if starts else 0.0))
    if started <= 0:
        raise UsageError(f"{run_dir}: no start time in its {VERDICT if kind == 'experiment' else SUMMARY}, journal "
                         "or request log; is this a run folder?")
    ended = float(head.get("ended") or (max(ends) if ends else started))
    links = sorted(p.name for p in run_dir.iterdir() if p.is_file() and p.name != RunFiles.REPORT)
    return RunData(
        run_id=str(head.get("run_id") or run_dir.name), run_dir=run_dir, kind=kind, title=title,
        status=str(head.get("status", "?")), reason=str(head.get("reason", "")), started=started, ended=ended,
        claims=claims, fault_window=_window(head.get("fault_window")),
        recovery_window=_window(head.get("recovery_window")), events=found_events, client=client_series(client),
        failures=failure_groups(client), server=server,
        versions=dict(head.get("versions") or {}), audit=head.get("audit"),
        figures=key_figures(client, claims), links=links,
        control=head.get("control") if isinstance(head.get("control"), dict) else None,
        controls=tuple(c for c in head.get("controls") or [] if isinstance(c, dict)),
        trials=_read_json(run_dir / trials.FILE) if (run_dir / trials.FILE).exists() else None,
        timing=head.get("timing") if isinstance(head.get("timing"), dict) else None,
    )
