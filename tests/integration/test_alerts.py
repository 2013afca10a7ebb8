"""Monitoring and alerting on the real stack: the rules are valid, they fire on their
conditions, the page reaches the on-call mailbox, and without the email route the
alert-on-outage experiment fails."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.chaos import actions, alerts
from harness.config import PROJECT_ROOT, Settings
from tests.integration.conftest import devsim, explain, judged_again

pytestmark = pytest.mark.docker
ALERT_POLL_RESOLUTION_S = 1.0

EXPERIMENT = PROJECT_ROOT / "experiments" / "alert-on-outage.yaml"
RULES = "/etc/prometheus/rules/devsim.yml"


def config(settings: Settings) -> dict[str, Any]:
    return {"devsim_stack": settings.stack, "lb_url": settings.lb_url, "prometheus_url": settings.prometheus_url,
            "mailsink_url": settings.mailsink_url}


def in_monitoring(settings: Settings, *argv: str) -> subprocess.CompletedProcess[str]:
    ids = subprocess.run(["docker", "ps", "-q", "--filter", f"label={settings.label}", "--filter",
                          f"label=com.docker.swarm.service.name={settings.stack}_monitoring"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert ids, "the monitoring container is not running"
    return subprocess.run(["docker", "exec", ids[0], *argv], capture_output=True, text=True, check=False)


def last_run_dir(stdout: str) -> Path:
    path = Path(re.findall(r"(/\S+)", stdout)[-1])
    return path.parent if path.name == "index.html" else path


def wait_state(settings: Settings, name: str, state: str, timeout: float = 60) -> float:
    return alerts.seconds_until_alert(name, state=state, since="now", timeout=timeout, configuration=config(settings))


def test_rules_are_valid_and_pass_their_unit_tests(as_shipped: Settings) -> None:
    done = in_monitoring(as_shipped, "promtool", "check", "rules", RULES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 10 rules found" in done.stdout
    loaded = requests.get(f"{as_shipped.prometheus_url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    names = {r["name"] for g in loaded for r in g["rules"]}
    assert names == {"AppDown", "AppReplicasBelowDesired", "AppReplicaDown", "HighServerErrorRatio",
                     "HighClientErrorRatio", "NoDatabaseLeader", "ReplicationLagHigh", "DiskAlmostFull",
                     "BackupTooOld", "WalArchivingStalled"}
    for group in loaded:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("critical", "warning"), rule["name"]
            assert rule["annotations"]["runbook"], rule["name"]
    done = in_monitoring(as_shipped, "promtool", "test", "rules", "/etc/prometheus/rules.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_host_and_service_exporters_are_scraped(as_shipped: Settings) -> None:
    for query in ("node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_filesystem_avail_bytes",
                  "node_network_receive_bytes_total", "redis_up", "pg_up", "haproxy_backend_active_servers",
                  "http_requests_total"):
        found = requests.get(f"{as_shipped.prometheus_url}/api/v1/query", params={"query": query},
                             timeout=5).json()["data"]["result"]
        assert found, f"Prometheus has no {query}"
    up = requests.get(f"{as_shipped.prometheus_url}/api/v1/query", params={"query": "redis_up"}, timeout=5).json()
    assert float(up["data"]["result"][0]["value"][1]) == 1


def test_a_frozen_replica_fires_the_replica_alerts(as_shipped: Settings) -> None:
    cfg = config(as_shipped)
    assert alerts.alert_state("AppReplicaDown", configuration=cfg) == "inactive"
    try:
        actions.pause_service("app", count=1, configuration=cfg)
        assert wait_state(as_shipped, "AppReplicaDown", "firing") < 60
        assert wait_state(as_shipped, "AppReplicasBelowDesired", "firing") < 60
        assert alerts.alert_state("AppDown", configuration=cfg) == "inactive"  # two replicas still serve
    finally:
        actions.unpause_service("app", configuration=cfg)
    wait_state(as_shipped, "AppReplicaDown", "inactive")
    wait_state(as_shipped, "AppReplicasBelowDesired", "inactive")


def test_alert_on_outage_measures_alert_and_email_latency_and_fails_without_the_email_route(
        stack: Settings) -> None:
    """`devsim run --prove`: as shipped, the alert fires and its email follows; under the
    experiment's control (ALERT_PROFILE=development: alerts to the console, not by email) the
    email claim fails with no email within the probe's 60 s, while the alert itself still fires."""
    done = devsim("run", "--no-up", "--prove", "--json", str(EXPERIMENT))
    assert done.returncode == 0, explain(done)
    [summary] = json.loads(done.stdout)
    run_dir = Path(summary["run_dir"])
    verdict = judged_again(run_dir)
    by_name = {c["name"]: c for c in verdict["claims"]}
    fired = by_name["the critical AppDown alert fires within 30 s of the outage"]["measured"]
    mailed = by_name["its email reaches the on-call mailbox within 60 s of the outage"]["measured"]
    # The email cannot come before the alert fires; the alert's figure is when a poll (every
    # 0.5 s, one query to Prometheus each) first saw it firing, the email's when it arrived:
    # the alert may be seen up to one poll and a query later than it fired.
    assert 0 < fired <= mailed + ALERT_POLL_RESOLUTION_S
    assert verdict["timing"]["detect"]["alert"] is not None  # the run's own figure saw an alert firing
    # Under load, the outage also trips both error-ratio alerts (server and client views).
    start, end = verdict["fault_window"]["start"], verdict["fault_window"]["end"]
    for name in ("HighServerErrorRatio", "HighClientErrorRatio"):
        found = requests.get(f"{stack.prometheus_url}/api/v1/query_range", timeout=10, params={
            "query": f'ALERTS{{alertname="{name}",alertstate="firing"}}', "start": start, "end": end + 30,
            "step": "1s"}).json()["data"]["result"]
        assert found, f"{name} did not fire during the outage"
    assert by_name["its email reaches the on-call mailbox within 60 s of the outage"]["power"] == "shown"
    [control] = verdict["controls"]
    under = json.loads((run_dir.parent / control["run_id"] / "verdict.json").read_text())
    assert under["status"] == "failed", under["reason"]
    assert under["control"]["switches"] == {"ALERT_PROFILE": "development"}
    by_name = {c["name"]: c for c in under["claims"]}
    page = by_name["its email reaches the on-call mailbox within 60 s of the outage"]
    assert page["outcome"] == "failed", page
    assert page["at_least"] > 60, page  # no email within the probe's 60 s: the page never came
    assert by_name["the critical AppDown alert fires within 30 s of the outage"]["outcome"] == "held"
    # the development profile's console got the alert instead
    console = requests.get(f"{stack.mailsink_url}/console", params={"since": under["started"]}, timeout=5).json()
    assert any(c["alertname"] == "AppDown" and c["status"] == "firing" for c in console)
