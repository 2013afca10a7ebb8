"""Figures of part of a load run, for SLOs scoped to a request name or a load shape's phase
(`p95{name="GET /api/items/:id"}<300ms`, `error_ratio{phase="spike"}<0.1%`): measured from
the client's request log, not Locust's totals.

A phase's time on the clock comes from the shape's own log (loadtests/shapes.py writes a line
`time,phase,users` each time the phase changes): a phase lasts from its line to the next one,
the last to the end of the log.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from harness.errors import UsageError
from harness.load import clientlog, shapes, slo
from harness.load.clientlog import Request

SHAPE_LOG = shapes.LOG  # in the run's folder


def check(slos: Sequence[slo.Slo], stages: Sequence[shapes.Stage]) -> None:
    """Before any load: a phase named by an SLO must be one of the shape's."""
    known = {s.phase for s in stages}
    for objective in slos:
        phase = objective.label("phase")
        if not phase:
            continue
        if not stages:
            raise UsageError(f"SLO {objective.text!r} names a phase; phases come from a load shape (--shape)")
        if phase not in known:
            raise UsageError(f"SLO {objective.text!r} names phase {phase!r}; the shape's phases: "
                             + ", ".join(sorted(known)))


def read_phases(path: Path, end_s: float) -> list[tuple[str, float, float]]:
    """(phase, start, end) in seconds since the epoch, from the shape's log; [] without one."""
    try:
        with path.open(newline="") as handle:
            marks = [(float(row[0]), row[1]) for row in csv.reader(handle) if len(row) >= 2]
    except (OSError, ValueError):
        return []
    found = []
    for n, (start, phase) in enumerate(marks):
        end = marks[n + 1][0] if n + 1 < len(marks) else max(end_s, start)
        found.append((phase, start, end))
    return found


def figures(rows: Sequence[Request], seconds: float) -> dict[str, float]:
    """The SLO metrics of these requests over `seconds` (latencies in ms; NaN where none)."""
    latencies = sorted(r.latency_ms for r in rows)
    failures = sum(1 for r in rows if not r.success)
    found = {"requests": float(len(rows)), "failures": float(failures),
             "error_ratio": failures / len(rows) if rows else math.nan,
             "rps": len(rows) / seconds if seconds > 0 else math.nan,
             "avg": sum(latencies) / len(latencies) if latencies else math.nan,
             "max": latencies[-1] if latencies else math.nan}
    for name, q in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99)):
        found[name] = clientlog.percentile(latencies, q) if latencies else math.nan
    return found


def measure(objective: slo.Slo, rows: Sequence[Request], phases: Sequence[tuple[str, float, float]]) -> float:
    """What `objective` measures over the requests of its name and phase (NaN when none)."""
    chosen = list(rows)
    name, phase = objective.label("name"), objective.label("phase")
    if name:
        chosen = [r for r in chosen if r.name == name]
    if phase:
        windows = [(a, b) for p, a, b in phases if p == phase]
        chosen = [r for r in chosen if any(a <= r.ts_ms / 1000 < b for a, b in windows)]
        seconds = sum(b - a for a, b in windows)
    elif chosen:
        seconds = (max(r.end_ms for r in chosen) - min(r.ts_ms for r in chosen)) / 1000
    else:
        seconds = 0.0
    return figures(chosen, seconds).get(objective.metric, math.nan)
