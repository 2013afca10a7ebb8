"""The shipped dashboards against the live stack: every panel's query is valid and returns
data, and the console page Prometheus serves renders with live figures."""

from __future__ import annotations

import json
import math
import time
import uuid

import pytest
import requests

from harness.config import Settings
from harness.errors import InfrastructureError
from harness.metrics.prometheus import Prometheus
from tests.integration.conftest import bearer, devsim

pytestmark = pytest.mark.docker


def dashboard(settings: Settings) -> dict[str, object]:
    return json.loads((settings.stack_dir / "monitoring" / "dashboards" / "overview.json").read_text())  # type: ignore[no-any-return]


def queries(settings: Settings) -> list[tuple[str, str]]:
    return [(str(p["title"]), str(t["expr"])) for p in dashboard(settings)["panels"]  # type: ignore[attr-defined]
            for t in p["targets"]]


def returns_data(prometheus: Prometheus, expr: str) -> str:
    """"" when the query gives at least one finite value, else what it gave."""
    try:
        values = [s.value for s in prometheus.vector(expr)]
    except InfrastructureError as exc:
        return exc.one_line()
    return "" if any(math.isfinite(v) for v in values) else f"no finite value: {values}"


def test_every_dashboard_query_returns_data(stack: Settings) -> None:
    auth = bearer(stack)
    for i in range(15):  # a little traffic on every route, so rates and quantiles have samples
        requests.get(f"{stack.lb_url}/api/version", timeout=5)
        requests.post(f"{stack.lb_url}/api/items", json={"id": f"dash-{uuid.uuid4()}", "payload": i}, headers=auth,
                      timeout=5)
        requests.get(f"{stack.lb_url}/api/items/none-{i}", timeout=5)
    prometheus = Prometheus(stack.prometheus_url)
    found = queries(stack)
    assert len(found) >= 20
    deadline = time.monotonic() + 30
    while True:
        failing = {f"{title}: {expr}": why for title, expr in found if (why := returns_data(prometheus, expr))}
        if not failing or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert failing == {}


def test_status_links_the_console_which_renders_live_figures(stack: Settings) -> None:
    done = devsim("status", "--json")
    url = json.loads(done.stdout)["dashboard"]
    assert url == f"{stack.prometheus_url}/consoles/devsim-overview.html"
    page = requests.get(url, timeout=10)
    assert page.status_code == 200, page.text[:500]
    assert "DevOps Simulator: stack overview" in page.text
    for panel in dashboard(stack)["panels"]:  # type: ignore[attr-defined]
        assert f"<h3>{panel['title']}</h3>" in page.text
    assert f"Now: {stack.replicas} app replicas scraped up" in page.text  # evaluated by Prometheus as it served
    assert " 1 database leader." in page.text
