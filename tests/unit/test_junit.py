"""`devsim run --junit`: recorded verdicts (tests/unit/data) as JUnit XML. Every expected
count and message is read from the raw verdict.json files, not from the writer."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from harness.verdict import junit
from harness.verdict.record import Claim, Verdict

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


def _claim(name: str, outcome: str, **fields: Any) -> Claim:
    return Claim(name=name, source=f"probe_{name}()", expected=fields.pop("expected", {"range": [0, 5]}),
                 measured=fields.pop("measured", 1), outcome=outcome, **fields)


def test_every_element_and_attribute_written_out_by_hand() -> None:
    """One suite of every kind of case, compared with the XML it must be, element by element."""
    verdict = Verdict(run_id="r1", experiment="Kill it", file="x.yaml", status="failed", reason="claim c failed",
                      started=100.0, ended=142.36, claims=(
                          _claim("ok", "held"),
                          _claim("c", "failed", measured=[1, 2], expected="0"),
                          _claim("e", "error", measured=None, error="ConnectionError: refused"),
                          _claim("n", "no evidence", measured=None, error="3 requests"),
                          _claim("v", "held", power="vacuous", power_note="HELD under control 'off'"),
                          _claim("u", "held", power="unproven", power_note="no evidence under 'off'"),
                          _claim("s", "held", power="shown", power_note="failed under 'off'")))
    element = junit.suite(verdict)
    assert (element.tag, element.attrib) == ("testsuite", {"name": "Kill it", "tests": "7", "failures": "2",
                                                           "errors": "3", "time": "42.4"})
    [props, *cases] = list(element)
    assert [(p.tag, p.attrib) for p in props] == [
        ("property", {"name": "run_id", "value": "r1"}), ("property", {"name": "file", "value": "x.yaml"}),
        ("property", {"name": "status", "value": "failed"}),
        ("property", {"name": "reason", "value": "claim c failed"})]
    assert [(c.tag, c.attrib) for c in cases] == [
        ("testcase", {"classname": "devsim.claim", "name": n, "time": "0"})
        for n in ("ok", "c", "e", "n", "v", "u", "s")]
    inside = {c.get("name"): [(k.tag, k.attrib, k.text) for k in c] for c in cases}
    assert inside == {
        "ok": [], "s": [],
        "c": [("failure", {"message": "expected 0, measured [1, 2]", "type": "ClaimFailed"},
               "c (probe_c()): expected 0, measured [1, 2]")],
        "e": [("error", {"message": 'expected {"range": [0, 5]}, measured null: ConnectionError: refused',
                         "type": "ClaimError"},
               'e (probe_e()): expected {"range": [0, 5]}, measured null: ConnectionError: refused')],
        "n": [("error", {"message": 'expected {"range": [0, 5]}, measured null: 3 requests', "type": "ClaimNoEvidence"},
               'n (probe_n()): expected {"range": [0, 5]}, measured null: 3 requests')],
        "v": [("failure", {"message": "vacuous: HELD under control 'off'", "type": "ClaimVacuous"},
               "v: held as shipped, but vacuous: HELD under control 'off'")],
        "u": [("error", {"message": "unproven: no evidence under 'off'", "type": "ClaimUnproven"},
               "u: held as shipped, but unproven: no evidence under 'off'")],
    }


def test_a_run_without_claims_is_one_case_an_error_only_when_it_did_not_pass() -> None:
    base = Verdict(run_id="r2", experiment="", file="y.yaml", status="passed", reason="nothing to judge",
                   claims=(), started=5.0, ended=4.0)
    passed = junit.suite(base)
    assert passed.attrib == {"name": "y.yaml", "tests": "1", "failures": "0", "errors": "0", "time": "0.0"}
    [case] = passed.findall("testcase")
    assert (case.attrib, list(case)) == ({"classname": "devsim.experiment", "name": "experiment run", "time": "0"}, [])
    errored = junit.suite(replace(base, status="error", reason="the stack did not come up"))
    assert errored.get("errors") == "1"
    [error] = errored.findall("testcase/error")
    assert error.attrib == {"message": "the stack did not come up", "type": "error"}
    failed = junit.suite(replace(base, status="failed", reason="stopped"))
    assert failed.get("errors") == "0"  # only an error run without claims counts as an error
    assert failed.find("testcase/error").attrib == {"message": "stopped", "type": "failed"}  # type: ignore[union-attr]


def test_the_file_is_utf8_xml_with_a_declaration_in_a_folder_made_for_it(tmp_path: Path) -> None:
    out = tmp_path / "ci" / "reports" / "junit.xml"  # two folders that do not exist yet
    junit.write(out, [Verdict("r1", "café", "x.yaml", "passed", "all held", ())])
    text = out.read_bytes()
    assert text.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<testsuites name=\"devsim-experiments\">")
    assert "café".encode() in text  # UTF-8, not an XML character reference
