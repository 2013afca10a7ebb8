"""Server-side series sampled from Prometheus at the end of a run into server_series.json.

Sampled while the stack is still up, so the report can be re-rendered from files later. Every
run gets the target stack's series (harness.target.monitoring); an experiment adds its own under
`extensions: [{name: devsim, report: {series: [{title, query, unit}]}}]`
(read by harness.verdict.record.report_series).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.metrics.prometheus import Prometheus
from harness.runs import RunFiles


@dataclass(frozen=True)
class ServerSignal:
    """A server-side sign of a fault, for time to detect: a Prometheus query, and whether the
    sign is the series reaching 1 ("rises": an alert firing) or falling below its value at the
    fault's start ("drops": fewer replicas in rotation)."""

    query: str
    rule: str  # "rises" or "drops"


ALERTS_FIRING = 'max(ALERTS{alertstate="firing"})'
ALERT_SIGNAL = ServerSignal(ALERTS_FIRING, "rises")  # Prometheus' own ALERTS series: any stack's
MAX_POINTS = 3000


def _label(labels: dict[str, str], fallback: str) -> str:
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    if len(shown) == 1:
        return next(iter(shown.values()))
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or fallback


def sample(prometheus_url: str, start: float, end: float, specs: Sequence[Mapping[str, str]],
           step: float = 1.0) -> dict[str, Any]:
    """Each series of `specs` (title, unit, query) over [start, end]; a query that fails is
    kept with its error, not dropped."""
    if end <= start:
        end = start + step
    step = max(step, (end - start) / MAX_POINTS)
    prometheus = Prometheus(prometheus_url, timeout=10.0)
    out: list[dict[str, Any]] = []
    for spec in specs:
        entry: dict[str, Any] = {"title": spec["title"], "query": spec["query"], "unit": spec.get("unit", ""),
                                 "lines": [], "error": ""}
        try:
            for labels, points in prometheus.labelled_matrix(spec["query"], start, end, step):
                entry["lines"].append({"label": _label(labels, spec["title"]), "points": points})
        except HarnessError as exc:
            entry["error"] = exc.one_line()
        out.append(entry)
    return {"prometheus": prometheus_url, "start": start, "end": end, "step": step, "series": out}


def write(run_dir: Path, data: dict[str, Any]) -> Path:
    path = RunFiles(run_dir).server_series
    path.write_text(json.dumps(data) + "\n")
    return path
