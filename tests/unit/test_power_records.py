"""What `--prove`, `--repeat`, stop conditions and the timing figures write down, field by
field (the mutation benchmark found these records unchecked). Expected values are written out
by hand."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from harness.experiment import abort, power
from harness.target.devsim import DevsimStack
from harness.verdict import junit, timing, trials
from harness.verdict.record import Claim, Verdict

CLAIM = "no client request fails over the fault window"


def verdict(run_id: str, outcome: str, measured: float | None, status: str, **extra: object) -> Verdict:
    return Verdict(run_id=run_id, experiment="crash", file="crash.yaml", status=status, reason="why",
                   claims=(Claim(CLAIM, "probe", "between 0 and 0.005", measured, outcome),),
                   started=100.0, ended=142.25, **extra)  # type: ignore[arg-type]


def test_the_control_record_names_its_run_and_status() -> None:
    control = power.Control("blind", (("LB_RETRIES", "0"),), (CLAIM,), (("replicas_cut_off_s", "8"),))
    proved = power.assess(verdict("s", "held", 0.001, "passed"),
                          [power.ControlRun(control, verdict("c", "failed", 0.2, "failed"))])
    assert [c.as_dict() for c in proved.controls] == [{"name": "blind", "switches": {"LB_RETRIES": "0"},
                                                       "must_fail": [CLAIM], "run_id": "c", "status": "failed",
                                                       "reason": "why"}]
    assert proved.reason == "all 1 claims held; 1 shown to fail under 1 control(s)"
    assert control.describe() == "LB_RETRIES=0 --var replicas_cut_off_s=8"
    missing = power.assess(verdict("s", "held", 0.001, "passed"), [power.ControlRun(control, None, "no up")])
    assert missing.controls[0].as_dict() == {"name": "blind", "switches": {"LB_RETRIES": "0"}, "must_fail": [CLAIM],
                                             "run_id": None, "status": "error", "reason": "no up"}
    assert missing.claims[0].power_note == "control 'blind': no verdict on the claim (no up)"


def test_junit_counts_an_unproven_claim_as_an_error_and_keeps_the_run_head(tmp_path: Path) -> None:
    unproven = Verdict(run_id="s", experiment="crash", file="crash.yaml", status="error", reason="unproven",
                       claims=(Claim(CLAIM, "probe", "e", 0.001, "held", power="unproven", power_note="n"),
                               Claim("other", "probe", "e", 1, "held")), started=100.0, ended=142.25)
    out = tmp_path / "junit.xml"
    junit.write(out, [unproven])
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("time")) == ("2", "0", "1",
                                                                                                    "42.2")
    properties = suite.find("properties")
    assert properties is not None
    assert {p.get("name"): p.get("value") for p in properties.findall("property")} == {
        "run_id": "s", "file": "crash.yaml", "status": "error", "reason": "unproven"}
    [error] = list(suite.iter("error"))
    assert (error.get("type"), error.get("message")) == ("ClaimUnproven", "unproven: n")


def test_trials_file_holds_the_status_the_runs_and_each_claims_spread(tmp_path: Path) -> None:
    runs = [verdict("r1", "held", 0.001, "passed"), verdict("r2", "held", 0.003, "passed")]
    found = trials.summarise(runs)
    path = trials.write(tmp_path, runs, found, 2)
    assert path == tmp_path / "trials.json"
    assert json.loads(path.read_text()) == {
        "status": "passed", "reason": "every one of 1 claims held in all 2 runs", "wanted": 2,
        "runs": [{"run_id": "r1", "status": "passed"}, {"run_id": "r2", "status": "passed"}],
        "claims": [{"name": CLAIM, "expected": "between 0 and 0.005", "passes": 2, "runs": 2, "flaky": False,
                    "outcomes": ["held", "held"], "values": [0.001, 0.003], "median": 0.002, "min": 0.001,
                    "max": 0.003}]}
    assert trials.status([], [], 1) == ("error", "only 0 of 1 runs were made")
    assert trials.status(runs, [], 2) == ("error", "the experiment makes no claim")
    assert trials.summarise([verdict("r", "held", True, "passed")])[0].values == ()  # a boolean is no figure


def test_the_timing_record_as_verdict_json_has_it() -> None:
    found = timing.Timing(100.0, {"client": 1.5}, {"client": 3.0}, 2.0, (101.0, 103.0),
                          {"failed": 2, "requests": 10, "objective": 0.999, "consumed": 200.0})
    assert found.as_dict() == {"fault_start": 100.0, "detect": {"client": 1.5}, "recover": {"client": 3.0},
                               "outage_s": 2.0, "outage_window": [101.0, 103.0],
                               "error_budget": {"failed": 2, "requests": 10, "objective": 0.999, "consumed": 200.0}}
    assert timing.Timing(100.0).as_dict()["outage_window"] is None
    assert timing.first_at([(99.0, 5.0), (100.0, 0.0), (101.0, 2.0)], 100.0, lambda v: v >= 1) == 1.0
    none = timing.with_server(timing.Timing(100.0), {"alert": [], "lb": []}, None, DevsimStack().server_signals())
    assert none.recover == {"steady": None}


def test_a_tripped_condition_as_verdict_json_has_it() -> None:
    condition = abort.Condition("slow", "client_p95_ms", "", 200.0, None, 5.0)
    tripped = abort.Tripped(condition, 312.5, 103.25, 100.0)
    assert tripped.record().as_dict() == {"condition": "slow", "figure": "client_p95_ms", "promql": "", "above": 200.0,
                                 "below": None, "over": 5.0, "measured": 312.5, "at": 103.25,
                                 "seconds_into_fault": 3.25}
    assert tripped.reason() == ("aborted: stop condition 'slow' tripped 3.2 s into the fault (client_p95_ms over "
                                "5 s above 200; measured 312.5); the rollbacks ran")
    assert abort.Condition("down", "", "sum(up)", None, 1.0).describe() == "PromQL 'sum(up)' below 1"
