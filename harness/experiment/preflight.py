"""Checks that need the live stack, made before any load is sent or fault injected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from harness.config import Settings
from harness.errors import InfrastructureError, UsageError
from harness.experiment import abort
from harness.experiment.validate import activities
from harness.http import Http
from harness.verdict.record import raw_claims, report_series


def queries(experiment: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every `query` argument of an activity or a claim."""
    found = []
    for where, activity in activities(experiment):
        query = ((activity.get("provider") or {}).get("arguments") or {}).get("query")
        if query:
            found.append((f"{where} activity {activity.get('name')!r}", str(query)))
    for spec in raw_claims(experiment):  # validated: each a mapping with a name
        query = (spec.get("arguments") or {}).get("query")
        if query:
            found.append((f"claim {spec.get('name')!r}", str(query)))
    for condition in abort.conditions(experiment):
        if condition.promql:
            found.append((f"stop condition {condition.name!r}", condition.promql))
    for spec in report_series(experiment):
        found.append((f"report series {spec.get('title')!r}", str(spec.get("query"))))
    return found


def check_live(settings: Settings, http: Http, path: Path, experiment: dict[str, Any]) -> None:
    """Prometheus answers and takes every query; the edge answers 200 on /health, verified
    against the stack's CA (a failure names its cause: TLS, refused, time-out, status)."""
    try:
        http.get(f"{settings.prometheus_url}/-/ready", timeout=3).raise_for_status()
    except requests.RequestException as exc:
        raise InfrastructureError(
            f"Prometheus at {settings.prometheus_url} is unreachable: {http.explain(exc, settings.prometheus_url, 3)}",
            hint="is the stack up? see `devsim status`") from exc
    for where, query in queries(experiment):
        answer = http.get(f"{settings.prometheus_url}/api/v1/query", params={"query": query}, timeout=5)
        if answer.status_code == 400:
            error = answer.json().get("error", answer.text)
            raise UsageError(f"{path}: {where}: bad PromQL {query!r}: {error}")
    http.check(f"{settings.lb_url}/health", "the stack's load balancer")
