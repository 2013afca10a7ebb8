"""`devsim run` on the real stack: each shipped experiment passes, its negative control fails,
an interrupted run leaves no fault behind, and bad input stops a run before any fault."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import requests

from harness.config import PROJECT_ROOT, Settings
from harness.load.runner import default_sigint
from tests.integration.conftest import devsim, explain, set_switches, shipped, switches_in_the_stack

pytestmark = pytest.mark.docker

EXPERIMENTS = PROJECT_ROOT / "experiments"

# For each experiment: the switches that turn off the safety mechanism its claims rest on,
# the claim that must then fail, and the side of its tolerance the measured value must lie on
# (a crashed probe or a run without evidence also "does not pass"; only this shows the claim
# failing for the reason the control is about).
NEGATIVE_CONTROLS: dict[str, tuple[list[str], str, str, Callable[[Any], bool]]] = {
    # Without the load balancer's checks and retries alone, what clients see depended on how
    # soon HAProxy's DNS dropped the dead address: 0.3 % to 3.5 % in the runs on record, so the
    # control once passed a 0.5 % claim. Without Swarm's health gate as well, the replacement
    # task is routed to while it warms up (3 s, not listening yet): a third of the requests
    # fail for seconds, every time.
    "app-instance-crash": (["LB_HEALTH_CHECKS=no-check", "LB_RETRIES=0", "APP_HEALTHCHECK_DISABLE=true",
                            "APP_STARTUP_DELAY_SECONDS=3"],
                           "client error ratio over the fault window is at most 0.5 %", "> 0.005",
                           lambda v: v > 0.005),
    "rolling-update-zero-downtime": (["APP_GRACEFUL_SHUTDOWN=false", "LB_HEALTH_CHECKS=no-check", "LB_RETRIES=0",
                                      "APP_UPDATE_ORDER=stop-first", "APP_HEALTHCHECK_DISABLE=true",
                                      "APP_STARTUP_DELAY_SECONDS=3"],
                                     "zero failed client requests during the rollout", "> 0", lambda v: v > 0),
    "redis-outage": (["APP_REDIS_FAIL_FAST=false"], "the token route answers within 1 s (does not hang)",
                     "> 1000 ms", lambda v: v > 1000),
    # Degraded mode off: with Redis away no replica is ready, and HAProxy has nothing to send
    # /health to (its own 503) instead of the live replicas.
    "redis-outage-degraded-mode": (["LB_DEGRADED_BACKEND=app"], "/health stays 200 during the outage", "== 503",
                                   lambda v: v == 503),
    "db-latency": (["APP_DB_POOL_MAX=1"], "p95 of item reads under latency stays within 1.5 s", "> 1500 ms",
                   lambda v: v > 1500),
}
EXPERIMENT_OF = {"redis-outage-degraded-mode": "redis-outage"}


def run_dir_of(stdout: str) -> Path:
    lines = [line.strip() for line in stdout.splitlines() if line.strip().startswith("/")]
    assert lines, stdout
    path = Path(lines[-1])
    return path.parent if path.name == "index.html" else path


def verdict_of(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    return json.loads((run_dir_of(done.stdout) / "verdict.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(set(NEGATIVE_CONTROLS) - set(EXPERIMENT_OF)))
def test_experiment_passes_on_the_stack_as_shipped(as_shipped: Settings, name: str) -> None:
    done = devsim("run", "--no-up", str(EXPERIMENTS / f"{name}.yaml"))
    assert done.returncode == 0, explain(done)
    verdict = verdict_of(done)
    assert verdict["status"] == "passed"
    claims = verdict["claims"]
    assert isinstance(claims, list)
    assert claims
    assert all(c["passed"] for c in claims)
    window = verdict["fault_window"]
    assert isinstance(window, dict)
    assert window["end"] > window["start"]
    run_dir = run_dir_of(done.stdout)
    assert (run_dir / "journal.json").is_file()
    assert (run_dir / "requests.csv").is_file()
    assert (run_dir / "locust.html").stat().st_size > 10_000  # Locust's own report, linked from ours
    # the report: the run's page with its verdict and the kill marked, and the index listing it
    page = (run_dir / "index.html").read_text()
    assert f'data-run-id="{verdict["run_id"]}"' in page
    assert ">PASSED<" in page
    first_action = next(r["activity"]["name"] for r in json.loads((run_dir / "journal.json").read_text())["run"]
                        if r["activity"]["type"] == "action")
    assert f'"text":"{first_action}"' in page
    sampled = json.loads((run_dir / "server_series.json").read_text())
    assert all(not s["error"] and s["lines"] for s in sampled["series"]), sampled
    assert verdict["run_id"] in (run_dir.parent / "index.html").read_text()


@pytest.mark.sets_switches
@pytest.mark.parametrize("name", sorted(NEGATIVE_CONTROLS))
def test_negative_control_fails_the_claim(stack: Settings, name: str, tmp_path: Path) -> None:
    switches, claim, side, on_failing_side = NEGATIVE_CONTROLS[name]
    set_switches(*switches)  # and reads them back: they took effect
    junit = tmp_path / "junit.xml"
    done = devsim("run", "--no-up", "--json", "--junit", str(junit),
                  str(EXPERIMENTS / f"{EXPERIMENT_OF.get(name, name)}.yaml"))
    assert done.returncode == 1, explain(done)
    [summary] = json.loads(done.stdout)  # --json: the one run's summary, nothing else on stdout
    verdict = json.loads((Path(summary["run_dir"]) / "verdict.json").read_text())
    assert verdict["status"] == "failed", verdict["reason"]
    assert (summary["status"], summary["exit_code"]) == ("failed", 1)
    assert [(c["name"], c["outcome"], c["measured"]) for c in summary["claims"]] == [
        (c["name"], c["outcome"], c["measured"]) for c in verdict["claims"]]
    by_name = {c["name"]: c for c in verdict["claims"]}
    failed = by_name[claim]
    assert failed["outcome"] == "failed", failed
    assert failed["measured"] is not None, failed
    assert on_failing_side(failed["measured"]), f"{claim}: measured {failed['measured']}, expected {side}"
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    failure = cases[claim].find("failure")
    assert failure is not None
    measured = failed["measured"]
    shown = measured if isinstance(measured, str) else json.dumps(measured)
    assert f"measured {shown}" in (failure.get("message") or "")
    assert not [c for c in by_name.values() if c["outcome"] in ("error", "no evidence")], by_name


@pytest.mark.sets_switches
def test_a_plain_up_puts_every_switch_back(stack: Settings) -> None:
    set_switches("LB_RETRIES=0", "APP_UPDATE_ORDER=stop-first")
    done = devsim("up", env={"LB_RETRIES": "0", "APP_GRACEFUL_SHUTDOWN": "false"})  # left in the user's shell
    assert done.returncode == 0, explain(done)
    assert switches_in_the_stack() == {}
    shipped()  # (already) as shipped: nothing for the next test to put back


def latency_setting(settings: Settings) -> str:
    out = subprocess.run(["docker", "ps", "-q", "--filter", f"label={settings.label}",
                          "--filter", f"label=com.docker.swarm.service.name={settings.stack}_dbproxy"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out
    return subprocess.run(["docker", "exec", out[0], "sh", "-c", "cat /run/devsim-proxy/latency 2>/dev/null || echo 0"],
                          capture_output=True, text=True, check=True).stdout.split()[0]


def test_sigterm_in_the_middle_of_a_fault_rolls_it_back(as_shipped: Settings) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "--no-up",
                             str(EXPERIMENTS / "db-latency.yaml")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "action 'add-300ms-database-latency' started" in line or time.monotonic() > deadline:
            break
    time.sleep(3)  # inside the method's 10 s pause, the latency in place
    assert float(latency_setting(as_shipped)) == 300, "".join(seen)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, "".join(seen) + err
    assert float(latency_setting(as_shipped)) == 0
    run_dir = run_dir_of(out)
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["status"] == "error"
    assert "interrupted" in verdict["reason"]
    assert requests.get(f"{as_shipped.lb_url}/ready", timeout=5).status_code == 200


def test_ctrl_c_during_the_warm_up_is_exit_2_and_the_safety_net_runs(stack: Settings) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "--no-up",
                             str(EXPERIMENTS / "app-instance-crash.yaml")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "background load" in line:  # the load starts; the experiment waits for its warm-up
            break
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, "".join(seen) + err
    assert "safety net: undoing any fault still in place" in err
    verdict = json.loads((run_dir_of(out) / "verdict.json").read_text())
    assert verdict["status"] == "error"
    assert verdict["reason"] == "interrupted (SIGINT); rollbacks and the safety net ran"
    assert requests.get(f"{stack.lb_url}/ready", timeout=5).status_code == 200


def test_bad_promql_stops_the_run_before_any_fault(stack: Settings, tmp_path: Path) -> None:
    text = (EXPERIMENTS / "db-latency.yaml").read_text().replace('sum(up{job="app"})', 'sum(up{job="app"}')
    path = tmp_path / "bad-promql.yaml"
    path.write_text(text)
    done = devsim("run", "--no-up", str(path))
    assert done.returncode == 2, explain(done)
    line = done.stderr.strip().splitlines()[0]
    assert line.startswith(f"devsim: error: {path}: method activity 'app-replicas-reported-up-by-prometheus': "
                           "bad PromQL")
    assert float(latency_setting(stack)) == 0


def test_unreachable_prometheus_is_one_line(stack: Settings) -> None:
    done = devsim("run", "--no-up", str(EXPERIMENTS / "app-instance-crash.yaml"),
                  env={"DEVSIM_PROMETHEUS_PORT": "19999"})
    assert done.returncode == 2, explain(done)
    assert done.stderr.strip().splitlines()[0].startswith(
        "devsim: error: Prometheus at http://127.0.0.1:19999 is unreachable")


def test_unknown_service_and_malformed_file_exit_2(stack: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: [unclosed\n")
    done = devsim("run", "--no-up", str(bad))
    assert done.returncode == 2, explain(done)
    assert "malformed YAML" in done.stderr.strip().splitlines()[0]
    other = tmp_path / "web.yaml"
    other.write_text((EXPERIMENTS / "app-instance-crash.yaml").read_text().replace(
        "arguments: {service: app, count: 1, signal: SIGKILL}", "arguments: {service: web, count: 1, signal: SIGKILL}"))
    done = devsim("run", "--no-up", str(other))
    assert done.returncode == 2, explain(done)
    assert "the stack has no service 'web'" in done.stderr.strip().splitlines()[0]


def test_plain_chaos_run_runs_the_same_file(stack: Settings, tmp_path: Path) -> None:
    """Experiment files stay plain Chaos Toolkit files: `chaos run` plays them unchanged."""
    journal_path = tmp_path / "journal.json"
    chaos = Path(sys.executable).parent / "chaos"
    done = subprocess.run([str(chaos), "run", "--journal-path", str(journal_path),
                           str(EXPERIMENTS / "app-instance-crash.yaml")], capture_output=True, text=True,
                          timeout=300, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    journal = json.loads(journal_path.read_text())
    assert journal["status"] == "completed"
    assert journal["deviated"] is False
    assert [r["status"] for r in journal["run"]] == ["succeeded", "succeeded"]
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
