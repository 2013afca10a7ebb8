"""PromQL queries through prometheus-api-client, with failures turned into harness errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException

from harness.errors import InfrastructureError
from harness.http import Http


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Target:
    """One target Prometheus scrapes now (from its targets API, not from stored series)."""

    job: str
    instance: str
    health: str  # "up", "down" or "unknown" (not scraped yet)


class Prometheus:
    """A thin handle on one Prometheus server."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self._api = PrometheusConnect(url=url, disable_ssl=True)
        self._timeout = timeout
        self._http = Http(None)  # plain HTTP on 127.0.0.1

    def vector(self, query: str) -> list[Sample]:
        """An instant query; each series with its labels and value."""
        try:
            result: Any = self._api.custom_query(query, params={"timeout": f"{self._timeout:g}s"})
        except PrometheusApiClientException as exc:
            raise InfrastructureError(f"Prometheus rejected {query!r}: {exc}") from exc
        except requests.RequestException as exc:
            raise InfrastructureError(
                f"Prometheus at {self.url} is unreachable: {type(exc).__name__}",
                hint="is the stack up? try `devsim status`",
            ) from exc
        return [Sample(dict(item.get("metric", {})), float(item["value"][1])) for item in result]

    def active_targets(self) -> list[Target]:
        """The targets service discovery gives now, each with its last scrape's health."""
        try:
            response = self._http.get(f"{self.url}/api/v1/targets", params={"state": "active"},
                                      timeout=self._timeout)
            response.raise_for_status()
            found = response.json()["data"]["activeTargets"]
        except requests.RequestException as exc:
            raise InfrastructureError(
                f"Prometheus at {self.url} is unreachable: {self._http.explain(exc, self.url, self._timeout)}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise InfrastructureError(f"Prometheus at {self.url} gave no target list: {exc}") from exc
        return [Target(str(t.get("labels", {}).get("job", "")), str(t.get("labels", {}).get("instance", "")),
                       str(t.get("health", "unknown"))) for t in found]

    def matrix(self, query: str, start: float, end: float, step: float = 1.0) -> list[list[tuple[float, float]]]:
        """A range query: for each series, its (timestamp, value) points."""
        return [points for _, points in self.labelled_matrix(query, start, end, step)]

    def labelled_matrix(self, query: str, start: float, end: float,
                        step: float = 1.0) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """A range query: for each series, its labels and its (timestamp, value) points."""
        try:
            result: Any = self._api.custom_query_range(
                query, start_time=datetime.fromtimestamp(start, UTC), end_time=datetime.fromtimestamp(end, UTC),
                step=f"{step:g}s")
        except PrometheusApiClientException as exc:
            raise InfrastructureError(f"Prometheus rejected {query!r}: {exc}") from exc
        except requests.RequestException as exc:
            raise InfrastructureError(f"Prometheus at {self.url} is unreachable: {type(exc).__name__}") from exc
        return [(dict(item.get("metric", {})), [(float(t), float(v)) for t, v in item.get("values", [])])
                for item in result]
