"""`devsim run --junit`: recorded verdicts (tests/unit/data) as JUnit XML. Every expected
count and message is read from the raw verdict.json files, not from the writer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from harness.verdict import junit
from harness.verdict.record import Verdict

DATA = Path(__file__).parent / "data"


def raw(name: str) -> dict[str, Any]:
    return json.loads((DATA / name / "verdict.json").read_text())  # type: ignore[no-any-return]


def test_one_suite_per_run_and_one_case_per_claim(tmp_path: Path) -> None:
    failed, passed = raw("report-run"), raw("chaos-run")
    out = tmp_path / "junit.xml"
    junit.write(out, [Verdict.from_dict(failed), Verdict.from_dict(passed)])
    root = ET.parse(out).getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [failed["experiment"], passed["experiment"]]
    for suite, verdict in zip(suites, (failed, passed), strict=True):
        cases = suite.findall("testcase")
        assert [c.get("name") for c in cases] == [c["name"] for c in verdict["claims"]]
        assert suite.get("tests") == str(len(verdict["claims"]))
        assert suite.get("failures") == str(sum(not c["passed"] for c in verdict["claims"]))
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["run_id"] == verdict["run_id"]
        assert props["status"] == verdict["status"]
    broken = [c for c in suites[0].findall("testcase") if c.find("failure") is not None]
    assert len(broken) == 1
    claim = next(c for c in failed["claims"] if not c["passed"])
    failure = broken[0].find("failure")
    assert failure is not None
    assert failure.get("message") == f"expected {claim['expected']}, measured {claim['measured']}"
    assert not [c for c in suites[1].findall("testcase") if len(c)]


def test_a_run_that_errored_before_any_claim_is_one_error_case(tmp_path: Path) -> None:
    verdict = {**raw("chaos-run"), "status": "error", "reason": "the stack did not come up", "claims": []}
    out = tmp_path / "junit.xml"
    junit.write(out, [Verdict.from_dict(verdict)])
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("errors")) == ("1", "1")
    error = suite.find("testcase/error")
    assert error is not None
    assert error.get("message") == "the stack did not come up"
