"""`devsim run --prove` and `--repeat`, offline: declared negative controls are checked before
any fault, each claim's power and each claim's trials follow from verdicts written by hand
here, and bad input is one line and exit 2 before the engine is asked anything."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import yaml

from harness.config import PROJECT_ROOT
from harness.experiment import power
from harness.experiment.validate import load
from harness.stack import switches
from harness.verdict import junit, trials
from harness.verdict.record import Claim, Verdict

EXPERIMENTS = PROJECT_ROOT / "experiments"
DECLARED = switches.load(PROJECT_ROOT / "target-stack")
CLAIM = "no client request fails over the fault window"
OTHER = "Swarm brings back 3 ready replicas within 20 s"


def crash() -> dict[str, Any]:
    return load(EXPERIMENTS / "app-instance-crash.yaml")


def with_controls(*declared: Any) -> dict[str, Any]:
    experiment = copy.deepcopy(crash())
    experiment["extensions"][0]["controls"] = list(declared)
    return experiment


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_experiment_declares_a_valid_control(path: Path) -> None:
    experiment = load(path)
    assert power.raw_controls(experiment), f"{path.name} declares no negative control"
    assert power.control_problems(experiment, DECLARED) == []
    for control in power.controls(experiment):
        assert control.must_fail
        assert control.switches
    found = power.coverage(experiment)
    assert found.missing == (), f"{path.name}: claims with no control and no reason"
    assert all(len(reason) > 20 for _, reason in found.reasoned)  # a reason, not "n/a"


def test_coverage_counts_controlled_reasoned_and_neither() -> None:
    experiment = copy.deepcopy(crash())
    claims = experiment["extensions"][0]["claims"]
    claims.append({"name": "bare", "probe": "client_requests", "tolerance": 1})
    found = power.coverage(experiment)
    assert found.controlled == ("no client request fails over the fault window",)
    assert [name for name, _ in found.reasoned] == ["Swarm brings back 3 ready replicas within 20 s"]
    assert found.missing == ("bare",)
    assert found.lines() == ["1 of 3 claims have a negative control; 1 say why not (no_control); 1 neither",
                             "  no negative control, and no no_control reason: 'bare'"]
    claims[0]["no_control"] = "contradicts the control that names it"
    assert power.coverage_problems(experiment) == [
        "claim 'no client request fails over the fault window' is in a control's must_fail and says "
        "no_control"]


@pytest.mark.parametrize(("control", "problem"), [
    ({"name": "c", "switches": {"LB_HEALTHCHEKS": "no-check"}, "must_fail": [CLAIM]},
     "control 'c': unknown switch 'LB_HEALTHCHEKS'; the stack's switches are: "),
    ({"name": "c", "switches": {"LB_RETRIES": 11}, "must_fail": [CLAIM]},
     "control 'c': switch LB_RETRIES must be an integer from 0 to 10, got '11'"),
    ({"name": "c", "switches": {"LB_RETRIES": 3}, "must_fail": [CLAIM]},
     "control 'c': every switch is at its shipped value: the control would run the stack as shipped"),
    ({"name": "c", "switches": {"LB_RETRIES": 0}, "must_fail": ["no such claim"]},
     "control 'c': no claim is named 'no such claim' (the claims are: "),
    ({"name": "c", "switches": {"LB_RETRIES": 0}},
     "control 'c' needs must_fail: a list of the claims that must fail under it"),
    ({"name": "c", "switches": {}, "must_fail": [CLAIM]},
     "control 'c' needs switches: a mapping of switch names to values"),
    ({"switches": {"LB_RETRIES": 0}, "must_fail": [CLAIM]}, "control #1 must be a mapping with a name"),
    ({"name": "c", "switches": {"LB_RETRIES": 0}, "variables": {"nope": 1}, "must_fail": [CLAIM]},
     "control 'c': variable 'nope' is not in the experiment's configuration"),
])
def test_a_malformed_control_is_one_problem_naming_it(control: dict[str, Any], problem: str) -> None:
    found = power.control_problems(with_controls(control), DECLARED)
    assert len(found) == 1, found
    assert found[0].startswith(problem), found


def test_yaml_values_become_the_text_up_takes() -> None:
    [control] = power.controls(with_controls(
        {"name": "c", "switches": {"LB_RETRIES": 0, "APP_HEALTHCHECK_DISABLE": True}, "must_fail": [CLAIM]}))
    assert control.switches == (("LB_RETRIES", "0"), ("APP_HEALTHCHECK_DISABLE", "true"))


def verdict(run_id: str, *claims: tuple[str, str, Any], status: str = "passed") -> Verdict:
    return Verdict(run_id=run_id, experiment="crash", file="x.yaml", status=status, reason="",
                   claims=tuple(Claim(name, "probe", "between 0 and 0.005", measured, outcome)
                                for name, outcome, measured in claims))


SHIPPED = verdict("shipped", (CLAIM, "held", 0.0012), (OTHER, "held", 3.9))
CONTROL = power.Control("blind", (("LB_RETRIES", "0"),), (CLAIM,))


def test_a_claim_that_fails_under_its_control_is_shown() -> None:
    under = verdict("ctl", (CLAIM, "failed", 0.21), (OTHER, "held", 4.1), status="failed")
    proved = power.assess(SHIPPED, [power.ControlRun(CONTROL, under)])
    by_name = {c.name: c for c in proved.claims}
    assert (by_name[CLAIM].power, by_name[OTHER].power) == ("shown", "")
    assert by_name[CLAIM].power_note == "failed under control 'blind' (LB_RETRIES=0): measured 0.21, run ctl"
    assert proved.status == "passed"
    assert proved.controls[0].run_id == "ctl"


def test_a_claim_that_holds_under_its_control_is_vacuous_and_the_run_fails(tmp_path: Path) -> None:
    under = verdict("ctl", (CLAIM, "held", 0.0009), (OTHER, "held", 4.1))
    proved = power.assess(SHIPPED, [power.ControlRun(CONTROL, under)])
    claim = next(c for c in proved.claims if c.name == CLAIM)
    assert claim.power == "vacuous"
    assert "measured 0.0009" in claim.power_note
    assert proved.status == "failed"
    assert proved.exit_code == 1
    assert proved.reason.startswith(f"claim {CLAIM!r} is vacuous: HELD under control 'blind'")
    out = tmp_path / "junit.xml"
    junit.write(out, [proved])
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "1"
    [failure] = list(suite.iter("failure"))
    assert failure.get("type") == "ClaimVacuous"
    # read back from verdict.json, the power survives
    assert Verdict.from_dict(proved.as_dict()).claims == proved.claims


@pytest.mark.parametrize(("under", "problem"), [
    (None, "its switches could not be set: up failed"),
    (verdict("ctl", (OTHER, "held", 4.1), status="error"), ""),
    (verdict("ctl", (CLAIM, "no evidence", None), status="error"), ""),
])
def test_a_control_that_judged_nothing_leaves_the_claim_unproven(under: Verdict | None, problem: str) -> None:
    proved = power.assess(SHIPPED, [power.ControlRun(CONTROL, under, problem)])
    assert next(c for c in proved.claims if c.name == CLAIM).power == "unproven"
    assert (proved.status, proved.exit_code) == ("error", 2)


def test_a_claim_that_failed_in_a_control_run_that_ended_in_error_is_not_shown() -> None:
    under = verdict("ctl", (CLAIM, "failed", 0.21), status="error")
    proved = power.assess(SHIPPED, [power.ControlRun(CONTROL, under)])
    claim = next(c for c in proved.claims if c.name == CLAIM)
    assert claim.power == "unproven"
    assert claim.power_note == "control 'blind': the claim failed, but the run ended error (), not failed or aborted"
    assert proved.status == "error"
    aborted = verdict("ctl", (CLAIM, "failed", 0.21), status="aborted")
    assert power.assess(SHIPPED, [power.ControlRun(CONTROL, aborted)]).claims[0].power == "shown"


def test_an_aborted_run_in_a_series_is_not_a_pass() -> None:
    runs = [verdict("r1", (CLAIM, "held", 0.001)), verdict("r2", (CLAIM, "held", 0.002), status="aborted")]
    runs[1] = Verdict(**{**runs[1].__dict__, "reason": "aborted: stop condition 'x' tripped"})
    assert trials.status(runs, trials.summarise(runs), 2) == (
        "failed", "run r2 was aborted: aborted: stop condition 'x' tripped")


def test_a_shipped_run_that_failed_keeps_its_status() -> None:
    failed = verdict("shipped", (CLAIM, "failed", 0.3), status="failed")
    under = verdict("ctl", (CLAIM, "failed", 0.4), status="failed")
    assert power.assess(failed, [power.ControlRun(CONTROL, under)]).status == "failed"


def test_trials_count_passes_spread_and_flakiness() -> None:
    runs = [verdict("r1", (CLAIM, "held", 0.001), (OTHER, "held", 3.5)),
            verdict("r2", (CLAIM, "failed", 0.02), (OTHER, "held", 4.5), status="failed"),
            verdict("r3", (CLAIM, "held", 0.003), (OTHER, "held", 4.0))]
    found = {t.name: t for t in trials.summarise(runs)}
    assert (found[CLAIM].passes, found[CLAIM].runs, found[CLAIM].flaky) == (2, 3, True)
    assert found[CLAIM].spread() == {"median": 0.003, "min": 0.001, "max": 0.02}
    assert (found[OTHER].passes, found[OTHER].flaky, found[OTHER].spread()["median"]) == (3, False, 4.0)
    assert trials.status(runs, list(found.values()), 3) == ("failed", f"claim {CLAIM!r} held in 2 of 3 runs (flaky)")
    assert trials.status(runs[:1], trials.summarise(runs[:1]), 1)[0] == "passed"
    assert trials.status(runs[:1], trials.summarise(runs[:1]), 2) == ("error", "only 1 of 2 runs were made")


def test_a_claim_missing_from_a_run_counts_as_no_evidence() -> None:
    runs = [verdict("r1", (CLAIM, "held", 0.001)), verdict("r2", (OTHER, "held", 4.0))]
    found = {t.name: t for t in trials.summarise(runs)}
    assert found[CLAIM].outcomes == ("held", "no evidence")
    assert found[OTHER].outcomes == ("no evidence", "held")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")  # the engine must not be needed
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env, capture_output=True, text=True,
                          check=False, timeout=120, cwd=PROJECT_ROOT)


def without_controls(tmp_path: Path) -> Path:
    experiment = yaml.safe_load((EXPERIMENTS / "app-instance-crash.yaml").read_text())
    del experiment["extensions"][0]["controls"]
    path = tmp_path / "no-controls.yaml"
    path.write_text(yaml.safe_dump(experiment))
    return path


@pytest.mark.parametrize(("args", "message"), [
    (["--repeat", "0"], "devsim: error: --repeat must be between 1 and 100, got 0"),
    (["--prove", "--repeat", "2"], "devsim: error: --prove and --repeat cannot be combined yet"),
    (["--prove", "NO_CONTROLS"], "devsim: error: {path}: --prove needs negative controls, and the experiment "
                                 "declares none"),
    (["BAD_CONTROL"], "devsim: error: {path}: control 'c': unknown switch 'NOPE'"),
])
def test_bad_prove_and_repeat_input_is_one_line_before_the_engine(tmp_path: Path, args: list[str],
                                                                  message: str) -> None:
    bad = with_controls({"name": "c", "switches": {"NOPE": 1}, "must_fail": [CLAIM]})
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    files = {"NO_CONTROLS": without_controls(tmp_path), "BAD_CONTROL": tmp_path / "bad.yaml"}
    named = [str(files.get(a, a)) for a in args]
    if not any(a in files for a in args):
        named.append(str(EXPERIMENTS / "app-instance-crash.yaml"))
    done = run_cli("run", "--no-up", *named)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip().splitlines()[0]
    path = next((str(files[a]) for a in args if a in files), "")
    assert line.startswith(message.format(path=path)), done.stderr
    assert "Docker engine" not in done.stderr


# --- what the tests above leave open (mutation testing found each) ------------------------------

def test_controls_that_are_not_a_list_are_one_problem() -> None:
    experiment = with_controls()
    experiment["extensions"][0]["controls"] = {"name": "c"}
    assert power.control_problems(experiment, DECLARED) == ["'controls' must be a list of negative controls"]
    del experiment["extensions"][0]["controls"]
    assert power.control_problems(experiment, DECLARED) == []  # none declared: nothing wrong with them


def test_every_control_is_checked_and_each_problem_named() -> None:
    good = {"name": "c", "switches": {"LB_RETRIES": 0}, "must_fail": [CLAIM]}
    found = power.control_problems(with_controls(
        "nameless", good, good,
        {"name": "d", "switches": {"LB_RETRIES": 11, "LB_HEALTHCHEKS": "x"}, "variables": ["x"], "must_fail": [1]},
        {"name": "e", "switches": {"LB_RETRIES": 0}, "must_fail": ["nope", "nada"]}), DECLARED)
    assert found[0] == "control #1 must be a mapping with a name"
    assert found[1] == "control 'c' is declared twice"
    assert found[2] == "control 'd': switch LB_RETRIES must be an integer from 0 to 10, got '11'"
    assert found[3].startswith("control 'd': unknown switch 'LB_HEALTHCHEKS'; the stack's switches are: "
                               "ALERT_PROFILE, APP_DB_POOL_MAX, ")
    assert found[4:] == [
        "control 'd': variables must map configuration keys to values",
        "control 'd' needs must_fail: a list of the claims that must fail under it",
        f"control 'e': no claim is named 'nope' (the claims are: {OTHER}, {CLAIM})",  # sorted: S < c
        f"control 'e': no claim is named 'nada' (the claims are: {OTHER}, {CLAIM})"]


@pytest.mark.parametrize("must_fail", [[], "just one", [CLAIM, 3]])
def test_must_fail_is_a_non_empty_list_of_names(must_fail: object) -> None:
    found = power.control_problems(with_controls({"name": "c", "switches": {"LB_RETRIES": 0},
                                                  "must_fail": must_fail}), DECLARED)
    assert found == ["control 'c' needs must_fail: a list of the claims that must fail under it"]


def test_a_control_parses_whole() -> None:
    [control] = power.controls(with_controls({"name": "c", "switches": {"APP_HEALTHCHECK_DISABLE": False},
                                              "variables": {"replicas_cut_off_s": 8}, "must_fail": [CLAIM, OTHER]}))
    assert control == power.Control("c", (("APP_HEALTHCHECK_DISABLE", "false"),), (CLAIM, OTHER),
                                    (("replicas_cut_off_s", 8),))
    assert control.describe() == "APP_HEALTHCHECK_DISABLE=false --var replicas_cut_off_s=8"


def test_coverage_of_claims_that_all_have_a_control_or_a_reason() -> None:
    found = power.coverage(crash())
    assert found.lines() == ["1 of 2 claims have a negative control; 1 say why not (no_control)"]
    experiment = copy.deepcopy(crash())
    experiment["extensions"][0]["claims"].insert(0, "not a mapping")
    assert power.coverage(experiment) == found  # a malformed claim is validation's to report; the rest count


def test_a_run_with_errors_names_the_first_one() -> None:
    runs = [verdict("r1", (CLAIM, "held", 0.001)), replace(verdict("r2", status="error"), reason="engine away"),
            replace(verdict("r3", status="error"), reason="other")]
    assert trials.status(runs, trials.summarise(runs), 3) == ("error", "run r2 ended in error: engine away")


def test_a_claim_that_held_in_no_run_is_not_flaky() -> None:
    runs = [verdict("r1", (CLAIM, "failed", 0.02), status="failed"), verdict("r2", (CLAIM, "failed", 0.03),
                                                                            status="failed")]
    assert trials.status(runs, trials.summarise(runs), 2) == ("failed", f"claim {CLAIM!r} held in 0 of 2 runs")


def test_a_claim_with_no_number_has_no_spread() -> None:
    runs = [verdict("r1", (CLAIM, "held", "v2")), verdict("r2", (CLAIM, "held", True))]
    [found] = trials.summarise(runs)
    assert found.as_dict() == {"name": CLAIM, "expected": "between 0 and 0.005", "passes": 2, "runs": 2,
                               "flaky": False, "outcomes": ["held", "held"], "values": [], "median": None,
                               "min": None, "max": None}


def test_the_trials_file_is_indented_json_with_any_value_as_text(tmp_path: Path) -> None:
    runs = [verdict("r1", (CLAIM, "held", 0.001))]
    found = trials.summarise(runs)
    found = [replace(found[0], expected=Path("/x"))]  # a value JSON has no type for
    path = trials.write(tmp_path, runs, found, 1)
    assert path.read_text().startswith('{\n  "status": "passed",\n  "reason": ')
    assert '"expected": "/x"' in path.read_text()
    assert path.read_text().endswith("}\n")


def test_two_controls_give_the_worst_power_and_both_notes() -> None:
    second = power.Control("slow", (("APP_STARTUP_DELAY_SECONDS", "3"),), (CLAIM,))
    shown = verdict("ctl1", (CLAIM, "failed", "paused"), status="failed")  # a text figure is shown as it is
    held = verdict("ctl2", (CLAIM, "held", {"p95": Path("/x")}), status="passed")  # anything else as JSON
    proved = power.assess(SHIPPED, [power.ControlRun(CONTROL, shown), power.ControlRun(second, held)])
    ratio = next(c for c in proved.claims if c.name == CLAIM)
    assert ratio.power == "vacuous"  # the worse of shown and vacuous
    assert ratio.power_note == ("failed under control 'blind' (LB_RETRIES=0): measured paused, run ctl1; "
                                "HELD under control 'slow' (APP_STARTUP_DELAY_SECONDS=3): measured "
                                '{"p95": "/x"}, run ctl2')
