"""The typed run record: verdict.json is a Verdict written out and read back into one."""

from __future__ import annotations

import json
from pathlib import Path

from harness.report import rundata
from harness.runs import RunFiles
from harness.verdict.record import Abort, Claim, ControlRecord, Rollback, UnderControl, Verdict, Window
from harness.verdict.timing import Timing

DATA = Path(__file__).parent / "data"


def test_a_verdict_survives_a_round_trip_through_its_file(tmp_path: Path) -> None:
    verdict = Verdict(
        run_id="r1", experiment="t", file="x.yaml", status="failed", reason="claim 'a' failed",
        claims=(Claim("a", "client_error_ratio({})", "between 0 and 0.005", 0.01, "failed", window=(1.0, 2.5)),
                Claim("b", "journal: x", 20, None, "failed", "no new leader (at least 31.5 s)", figure="rto",
                      at_least=31.5),
                Claim("c", "journal: y", 200, None, "no evidence", "the activity did not run")),
        fault_window=Window(1.0, 2.5), recovery_window=Window(3.0, 9.0), journal_status="completed", deviated=False,
        rollbacks=(Rollback("restore", "succeeded"),), safety_net=("app: 3 replicas",), load={"requests": 10},
        audit={"lost": 0}, started=0.5, ended=10.0, versions={"start": {"app": "v1"}})
    verdict.write(RunFiles(tmp_path))
    assert Verdict.read(RunFiles(tmp_path)) == verdict
    written = json.loads((tmp_path / "verdict.json").read_text())
    assert written["claims"][0]["window"] == [1.0, 2.5]
    assert [c["passed"] for c in written["claims"]] == [False, False, False]
    assert written["fault_window"]["seconds"] == 1.5
    assert verdict.exit_code == 1


def test_a_verdict_written_before_outcomes_reads_back_with_them() -> None:
    old = Verdict.read(RunFiles(DATA / "report-run"))
    assert old.status == "failed"
    by_passed = {c.outcome for c in old.claims if c.passed}
    assert by_passed == {"held"}
    assert all(c.outcome in ("failed", "error") for c in old.claims if not c.passed)
    legacy = Claim.from_dict({"name": "x", "passed": False, "error": "boom"})
    assert legacy.outcome == "error"
    assert Claim.from_dict({"name": "x", "passed": False}).outcome == "failed"


def test_the_report_reads_the_same_types() -> None:
    run = rundata.load(DATA / "report-run")
    assert all(isinstance(c, Claim) for c in run.claims)
    load_run = rundata.load(DATA / "load-run")
    assert all(isinstance(c, Claim) for c in load_run.claims)
    assert {c.outcome for c in load_run.claims} <= {"held", "failed", "no evidence"}


def test_a_control_run_keeps_its_control_stop_condition_timing_and_controls(tmp_path: Path) -> None:
    verdict = Verdict(run_id="r2", experiment="t", file="x.yaml", status="aborted", reason="stopped", claims=(),
                      controls=(ControlRecord("off", {"LB_RETRIES": "0"}, ("c",), "r3", "failed", "why"),),
                      control=UnderControl("off", {"LB_RETRIES": "0"}, "r1", {"LB_RETRIES": "0"}),
                      abort=Abort("every replica down", "ready_replicas", "", None, 1.0, 5.0, 0.0, 103.0, 3.0),
                      timing=Timing(100.0, {"client": 0.1}, {"client": 0.2}, 0.3, (100.05, 100.35)))
    verdict.write(RunFiles(tmp_path))
    written = json.loads((tmp_path / "verdict.json").read_text())
    assert written["controls"] == [{"name": "off", "switches": {"LB_RETRIES": "0"}, "must_fail": ["c"],
                                    "run_id": "r3", "status": "failed", "reason": "why"}]
    assert written["control"] == {"name": "off", "switches": {"LB_RETRIES": "0"}, "of_run": "r1",
                                  "read_back": {"LB_RETRIES": "0"}}
    assert written["abort"] == {"condition": "every replica down", "figure": "ready_replicas", "promql": "",
                                "above": None, "below": 1.0, "over": 5.0, "measured": 0.0, "at": 103.0,
                                "seconds_into_fault": 3.0}
    assert written["timing"] == {"fault_start": 100.0, "detect": {"client": 0.1}, "recover": {"client": 0.2},
                                 "outage_s": 0.3, "outage_window": [100.05, 100.35], "error_budget": {}}
    back = Verdict.read(RunFiles(tmp_path))
    assert back == verdict
    assert (back.control, back.abort, back.timing) == (verdict.control, verdict.abort, verdict.timing)
    plain = Verdict(run_id="r4", experiment="t", file="x.yaml", status="passed", reason="ok", claims=())
    plain.write(RunFiles(tmp_path))
    written = json.loads((tmp_path / "verdict.json").read_text())
    assert (written["control"], written["abort"], written["timing"], written["controls"]) == (None, None, None, [])
    # a record of another form (not a mapping) reads back as none
    odd = {**written, "control": "off", "abort": ["x"], "timing": 3}
    assert (Verdict.from_dict(odd).control, Verdict.from_dict(odd).abort, Verdict.from_dict(odd).timing) == \
        (None, None, None)


def test_a_lone_mapping_in_the_extension_is_a_list_of_one() -> None:
    from harness.verdict.record import extension_list

    one = {"name": "x", "switches": {}}
    experiment = {"extensions": [{"name": "devsim", "controls": one, "abort_when": [one, one]}]}
    assert extension_list(experiment, "controls") == [one]
    assert extension_list(experiment, "abort_when") == [one, one]
    assert extension_list(experiment, "claims") == []
