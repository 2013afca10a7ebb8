"""`devsim run` on the real stack: each shipped experiment passes, its negative control fails,
an interrupted run leaves no fault behind, and bad input stops a run before any fault."""

from __future__ import annotations

import dataclasses
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
import yaml

from harness.config import PROJECT_ROOT, Settings
from harness.experiment import abort
from harness.load.runner import default_sigint
from tests.integration.conftest import (
    devsim,
    explain,
    found_as_shipped,
    judged_again,
    set_switches,
    switches_in_the_stack,
)

pytestmark = pytest.mark.docker

EXPERIMENTS = PROJECT_ROOT / "experiments"

# For each experiment, the claims its declared negative controls must make fail (`devsim run
# --prove` runs them), and the side of the tolerance the measured value must lie on under the
# control: a crashed probe or a run without evidence also "does not pass"; only this shows the
# claim failing for the reason the control is about. The switches are the experiment's own
# (its `controls:`); this table is what the test expects them to do, written by hand.
SHOWN_TO_FAIL: dict[str, dict[str, tuple[str, Callable[[Any], bool]]]] = {
    # Without the retries and a health signal, the requests sent to the dead task fail.
    "app-instance-crash": {"no client request fails over the fault window": ("> 0", lambda v: v > 0)},
    # A replica frozen 6 s: without retries on a response time-out, the requests it holds wait
    # past the client's 5 s time-out (failed, and slow at the 99th percentile).
    "app-instance-hang": {"client error ratio over the fault window is at most 0.5 %": ("> 0.005",
                                                                                         lambda v: v > 0.005),
                          "client p99 latency over the fault window is at most 2.5 s": ("> 2500 ms",
                                                                                         lambda v: v > 2500)},
    "rolling-update-zero-downtime": {"zero failed client requests during the rollout": ("> 0", lambda v: v > 0)},
    "redis-outage": {"the token route answers within 1 s (does not hang)": ("> 1000 ms", lambda v: v > 1000),
                     # degraded mode off: with Redis away no replica is ready, and HAProxy has
                     # nothing to send /health to (its own 503) instead of the live replicas
                     "/health stays 200 during the outage": ("== 503", lambda v: v == 503)},
    # db-latency's control (a pool of one connection) is shown failing in the vacuity test below,
    # beside a control that breaks nothing: one --prove run for both
}


def run_dir_of(stdout: str) -> Path:
    lines = [line.strip() for line in stdout.splitlines() if line.strip().startswith("/")]
    assert lines, stdout
    path = Path(lines[-1])
    return path.parent if path.name == "index.html" else path


def verdict_of(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    return judged_again(run_dir_of(done.stdout))  # every run it reads is judged again from its folder, offline


def check_report(run_dir: Path, verdict: dict[str, Any]) -> None:
    """The run's files and its page: the verdict, the first action marked, the index listing it."""
    assert (run_dir / "journal.json").is_file()
    assert (run_dir / "requests.csv").is_file()
    assert (run_dir / "locust.html").stat().st_size > 10_000  # Locust's own report, linked from ours
    page = (run_dir / "index.html").read_text()
    assert f'data-run-id="{verdict["run_id"]}"' in page
    assert ">PASSED<" in page
    first_action = next(r["activity"]["name"] for r in json.loads((run_dir / "journal.json").read_text())["run"]
                        if r["activity"]["type"] == "action")
    assert f'"text":"{first_action}"' in page
    sampled = json.loads((run_dir / "server_series.json").read_text())
    assert all(not s["error"] and s["lines"] for s in sampled["series"]), sampled
    assert verdict["run_id"] in (run_dir.parent / "index.html").read_text()
    assert 'id="controls"' in page  # the controls table, each control's run linked
    assert all(f'../{c["run_id"]}/index.html' in page for c in verdict["controls"])


@pytest.mark.parametrize("name", sorted(SHOWN_TO_FAIL))
def test_prove_passes_as_shipped_and_each_control_fails_its_claims(stack: Settings, name: str,
                                                                   tmp_path: Path) -> None:
    """`devsim run --prove`: the experiment passes on the stack as shipped, then each declared
    control (its switches read back from the running stack while it ran) fails the claims it
    names, with the measured value on the failing side; the stack is put back as shipped."""
    junit = tmp_path / "junit.xml"
    done = devsim("run", "--no-up", "--prove", "--json", "--junit", str(junit), str(EXPERIMENTS / f"{name}.yaml"))
    assert done.returncode == 0, explain(done)
    [summary] = json.loads(done.stdout)  # --json: the one run's summary, nothing else on stdout
    run_dir = Path(summary["run_dir"])
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert (verdict["status"], summary["status"], summary["exit_code"]) == ("passed", "passed", 0), verdict["reason"]
    assert verdict["claims"]
    assert all(c["outcome"] == "held" for c in verdict["claims"]), verdict["claims"]
    assert verdict["fault_window"]["end"] > verdict["fault_window"]["start"]
    expected = SHOWN_TO_FAIL[name]
    assert {c["name"]: c["power"] for c in verdict["claims"] if c["power"]} == dict.fromkeys(expected, "shown")
    shown: set[str] = set()
    for control in verdict["controls"]:
        under = json.loads((run_dir.parent / control["run_id"] / "verdict.json").read_text())
        assert under["control"]["name"] == control["name"]
        assert under["status"] == "failed", under["reason"]
        by_name = {c["name"]: c for c in under["claims"]}
        for claim in control["must_fail"]:
            side, on_failing_side = expected[claim]
            failed = by_name[claim]
            assert failed["outcome"] == "failed", failed
            assert failed["measured"] is not None, failed
            assert on_failing_side(failed["measured"]), f"{claim}: measured {failed['measured']}, expected {side}"
            note = next(c["power_note"] for c in verdict["claims"] if c["name"] == claim)
            shown_value = failed["measured"] if isinstance(failed["measured"], str) else json.dumps(failed["measured"])
            assert f"measured {shown_value}, run {control['run_id']}" in note
            shown.add(claim)
    assert shown == set(expected)
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {c["name"] for c in verdict["claims"]}
    assert not [c for c in cases.values() if c.find("failure") is not None or c.find("error") is not None]
    check_report(run_dir, verdict)
    assert verdict["abort"] is None  # app-instance-crash declares a stop condition; it must not trip
    assert switches_in_the_stack() == {}  # put back as shipped


def test_a_control_that_breaks_nothing_the_claim_rests_on_makes_it_vacuous(stack: Settings, tmp_path: Path) -> None:
    """db-latency's own control (a pool of one connection) fails its queueing claim (the
    75th percentile of reads) with the measured value on the failing side; a second control added here, the
    alert route, has nothing to do with read latency: under it the claim holds, so --prove
    calls the claim vacuous and the run fails (exit 1), whatever the shipped run said."""
    experiment = yaml.safe_load((EXPERIMENTS / "db-latency.yaml").read_text())
    claim = "item reads wait for the database once and not in a queue (p75 under 600 ms)"
    [shipped_control] = experiment["extensions"][0]["controls"]
    assert shipped_control["must_fail"] == [claim]
    experiment["extensions"][0]["controls"].append({"name": "alerts to the console", "must_fail": [claim],
                                                    "switches": {"ALERT_PROFILE": "development"}})
    path = tmp_path / "db-latency-vacuous.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    junit = tmp_path / "junit.xml"
    done = devsim("run", "--no-up", "--prove", "--json", "--junit", str(junit), str(path))
    assert done.returncode == 1, explain(done)
    [summary] = json.loads(done.stdout)
    verdict = json.loads((Path(summary["run_dir"]) / "verdict.json").read_text())
    assert verdict["status"] == "failed"
    assert all(c["outcome"] == "held" for c in verdict["claims"]), verdict["claims"]  # as shipped: every claim
    pool, alerts = verdict["controls"]
    by_control = {}
    for control in (pool, alerts):
        under = json.loads((Path(summary["run_dir"]).parent / control["run_id"] / "verdict.json").read_text())
        by_control[control["name"]] = next(c for c in under["claims"] if c["name"] == claim)
    failed = by_control[shipped_control["name"]]
    assert failed["outcome"] == "failed", failed
    assert failed["measured"] > 600, failed  # the pool of one: reads queue behind each other
    held = by_control["alerts to the console"]
    assert held["outcome"] == "held"
    assert held["measured"] <= 600  # the measured p75 under the control: within the tolerance
    proved = next(c for c in verdict["claims"] if c["name"] == claim)
    assert proved["power"] == "vacuous"
    assert verdict["reason"].startswith(f"claim {claim!r} is vacuous: failed under control "
                                        f"{shipped_control['name']!r}"), verdict["reason"]
    assert "HELD under control 'alerts to the console' (ALERT_PROFILE=development)" in verdict["reason"]
    [failure] = [c.find("failure") for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == claim]
    assert failure is not None
    assert failure.get("type") == "ClaimVacuous"
    assert switches_in_the_stack() == {}


def test_repeat_reports_each_claims_passes_and_spread(stack: Settings) -> None:
    done = devsim("run", "--no-up", "--repeat", "2", "--json", str(EXPERIMENTS / "db-latency.yaml"))
    assert done.returncode == 0, explain(done)
    [summary] = json.loads(done.stdout)
    assert (summary["status"], len(summary["runs"])) == ("passed", 2)
    verdicts = [json.loads((Path(r["run_dir"]) / "verdict.json").read_text()) for r in summary["runs"]]
    trials = json.loads(Path(summary["trials"]).read_text())
    assert trials == {**trials, "status": "passed", "wanted": 2}
    for claim in trials["claims"]:
        measured = [next(c["measured"] for c in v["claims"] if c["name"] == claim["name"]) for v in verdicts]
        assert (claim["passes"], claim["runs"], claim["flaky"]) == (2, 2, False)
        if all(isinstance(m, int | float) for m in measured):
            assert (claim["min"], claim["max"]) == (min(measured), max(measured))
            assert claim["median"] == pytest.approx((measured[0] + measured[1]) / 2)
    page = (Path(summary["runs"][0]["run_dir"]) / "index.html").read_text()
    assert 'id="trials"' in page
    assert summary["runs"][1]["run_id"] in page


def test_a_stop_condition_that_trips_ends_the_fault_early_and_the_rollbacks_run(stack: Settings,
                                                                                 tmp_path: Path) -> None:
    """300 ms of database latency puts the clients' p95 past 200 ms within seconds: the
    condition trips, the 10 s pause of the method is cut short, the latency is rolled back
    at once, and the verdict is `aborted` (exit 1) with the condition and the figure. (The
    shipped app-instance-crash declares a condition that must not trip: the prove test
    above checks that its runs end with no abort.)"""
    experiment = yaml.safe_load((EXPERIMENTS / "db-latency.yaml").read_text())
    experiment["extensions"][0]["abort_when"] = [{"name": "clients slow", "figure": "client_p95_ms", "over": 5,
                                                  "above": 200}]
    path = tmp_path / "db-latency-abort.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    done = devsim("run", "--no-up", "--json", str(path))
    assert done.returncode == 1, explain(done)
    [summary] = json.loads(done.stdout)
    run_dir = Path(summary["run_dir"])
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["status"] == "aborted", verdict["reason"]
    tripped = verdict["abort"]
    assert tripped["condition"] == "clients slow"
    assert tripped["measured"] > 200  # on the tripping side
    assert 0 < tripped["seconds_into_fault"] < 10  # before the method's 10 s pause was over
    assert verdict["reason"].startswith("aborted: stop condition 'clients slow' tripped ")
    journal = json.loads((run_dir / "journal.json").read_text())
    assert [r["activity"]["name"] for r in journal["run"]] == ["add-300ms-database-latency"]
    assert [(r["activity"]["name"], r["status"]) for r in journal["rollbacks"]] == [
        ("remove-database-latency", "succeeded")]
    assert verdict["fault_window"]["end"] - verdict["fault_window"]["start"] < 10
    assert latency_setting(stack) == "0"
    assert "Traceback" not in done.stderr


def test_the_shipped_stop_condition_trips_when_every_series_is_gone(stack: Settings, tmp_path: Path) -> None:
    """With every app replica gone Prometheus has no `up{job="app"}` series at all: a job with
    no targets is that state. The shipped condition's query (its `or vector(0)`) measures 0
    there and trips; the same query without it returns nothing, and never would."""
    experiment = yaml.safe_load((EXPERIMENTS / "app-instance-crash.yaml").read_text())
    [shipped] = abort.conditions(experiment)
    assert shipped.promql.startswith('sum(up{job="app"})')
    gone = dataclasses.replace(shipped, promql=shipped.promql.replace('job="app"', 'job="no-such-job"'))
    measure = abort.measurer(tmp_path / "requests.csv", stack.prometheus_url)
    assert measure(shipped, time.time()) == 3.0  # the stack as it runs: three replicas up
    assert measure(gone, time.time()) == 0.0
    assert gone.trips(0.0)
    bare = dataclasses.replace(gone, promql='sum(up{job="no-such-job"})')
    assert measure(bare, time.time()) is None  # nothing to trip on: the hole `or vector(0)` closes


@pytest.mark.sets_switches
def test_a_plain_up_puts_every_switch_back(stack: Settings) -> None:
    set_switches("LB_RETRIES=0", "APP_UPDATE_ORDER=stop-first")
    done = devsim("up", env={"LB_RETRIES": "0", "APP_GRACEFUL_SHUTDOWN": "false"})  # left in the user's shell
    assert done.returncode == 0, explain(done)
    found_as_shipped()  # nothing for the next test to put back


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
    # the control judged the claims as `devsim run` would: the journal's one held, and the
    # client one could not be judged without a request log (no load under plain `chaos run`)
    claims = {c["name"]: c for c in journal["devsim"]["claims"]}
    assert claims["Swarm brings back 3 ready replicas within 20 s"]["outcome"] == "held"
    assert claims["no client request fails over the fault window"]["outcome"] == "error"
    assert "no client request log" in claims["no client request fails over the fault window"]["error"]


def test_plain_chaos_run_marks_a_failed_claim_deviated_and_exits_1(stack: Settings, tmp_path: Path) -> None:
    """A claim no recovery can meet (3 replicas back within 0.5 s; it takes seconds): `chaos
    run` judges it through the control, marks the journal deviated and exits 1; `devsim run`
    on the same file fails the same claim."""
    experiment = yaml.safe_load((EXPERIMENTS / "app-instance-crash.yaml").read_text())
    claim = next(c for c in experiment["extensions"][0]["claims"] if c["name"].startswith("Swarm brings back"))
    claim["tolerance"] = {"type": "range", "range": [0, 0.5]}
    experiment["extensions"][0]["claims"] = [claim]  # (the client claim needs the load of `devsim run`)
    del experiment["extensions"][0]["controls"]
    path = tmp_path / "crash-impossible.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    journal_path = tmp_path / "journal.json"
    chaos = Path(sys.executable).parent / "chaos"
    done = subprocess.run([str(chaos), "run", "--journal-path", str(journal_path), str(path)], capture_output=True,
                          text=True, timeout=300, check=False, cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    journal = json.loads(journal_path.read_text())
    assert (journal["status"], journal["deviated"]) == ("completed", True)
    judged = next(c for c in journal["devsim"]["claims"] if c["name"] == claim["name"])
    assert judged["outcome"] == "failed"
    assert judged["measured"] > 0.5  # the seconds Swarm took, on the failing side
    assert journal["devsim"]["status"] == "failed"
    # `devsim run` on the same file agrees: the same claim fails, and its journal says deviated
    ours = devsim("run", "--no-up", "--json", str(path))
    assert ours.returncode == 1, explain(ours)
    [summary] = json.loads(ours.stdout)
    assert [(c["name"], c["outcome"]) for c in summary["claims"] if c["outcome"] != "held"] == [
        (claim["name"], "failed")]
    assert json.loads((Path(summary["run_dir"]) / "journal.json").read_text())["deviated"] is True
