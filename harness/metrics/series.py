"""Server-side series sampled from Prometheus at the end of a run into server_series.json.

Sampled while the stack is still up, so the report can be re-rendered from files later. Every
run gets the default series; an experiment adds its own under
`extensions: [{name: devsim, report: {series: [{title, query, unit}]}}]`
(read by harness.verdict.record.report_series).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.metrics.prometheus import Prometheus

DEFAULT_SERIES: tuple[dict[str, str], ...] = (
    {"title": "ready app replicas (load balancer view)", "unit": "replicas",
     "query": 'sum by (proxy) (haproxy_backend_active_servers{proxy="app"})'},
    {"title": "load balancer responses per second", "unit": "responses/s",
     "query": 'sum by (code) (rate(haproxy_frontend_http_responses_total{code=~"2xx|4xx|5xx"}[5s]))'},
    {"title": "app replicas by version", "unit": "replicas", "query": "count by (version) (app_info)"},
    {"title": "database leaders (Patroni)", "unit": "leaders", "query": "sum(patroni_primary)"},
    {"title": "replication lag by replica (leader WAL minus WAL received)", "unit": "bytes",
     "query": "scalar(max(patroni_xlog_location)) - (patroni_xlog_received_location and on (instance) "
              "(patroni_replica == 1))"},
    {"title": "app server p95 latency", "unit": "s",
     "query": "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5s])))"},
)
MAX_POINTS = 3000


def _label(labels: dict[str, str], fallback: str) -> str:
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    if len(shown) == 1:
        return next(iter(shown.values()))
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or fallback


def sample(prometheus_url: str, start: float, end: float, extra: list[dict[str, str]] | None = None,
           step: float = 1.0) -> dict[str, Any]:
    """Each series over [start, end]; a query that fails is kept with its error, not dropped."""
    if end <= start:
        end = start + step
    step = max(step, (end - start) / MAX_POINTS)
    prometheus = Prometheus(prometheus_url, timeout=10.0)
    out: list[dict[str, Any]] = []
    for spec in (*DEFAULT_SERIES, *(extra or [])):
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
    path = run_dir / "server_series.json"
    path.write_text(json.dumps(data) + "\n")
    return path
