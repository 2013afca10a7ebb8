"""The typed run record: verdict.json is a Verdict written out and read back into one."""

from __future__ import annotations

import json
from pathlib import Path

from harness.report import rundata
from harness.verdict.record import Claim, Rollback, RunFiles, Verdict, Window

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
