"""Experiment verdicts as JUnit XML, for CI systems: one test suite per experiment run, one
test case per claim. A claim that failed is a <failure> and one without evidence or whose
probe broke is an <error>, each with the expected and the measured value in its message;
a run that ended in error before any claim was judged is one <error> case with the reason.
Under `--prove`, a claim that held as shipped but also under its negative control is a
<failure type="ClaimVacuous">, and one its control could not judge an <error type="ClaimUnproven">.

Schema (the subset every JUnit reader takes): testsuites > testsuite[name=experiment title,
tests, failures, errors, time] > properties (run_id, file, status, reason) and
testcase[classname="devsim.claim", name=claim] > failure|error[message, type]."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from harness.verdict.record import ERROR, FAILED, HELD, UNPROVEN, VACUOUS, Verdict


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def suite(verdict: Verdict) -> ET.Element:
    claims = list(verdict.claims)
    failures = sum(c.outcome == FAILED or (c.passed and c.power == VACUOUS) for c in claims)
    errors = (sum(c.outcome not in (HELD, FAILED) or (c.passed and c.power == UNPROVEN) for c in claims)
              + (not claims and verdict.status == ERROR))
    element = ET.Element("testsuite", name=verdict.experiment or verdict.file, tests=str(max(1, len(claims))),
                         failures=str(failures), errors=str(errors),
                         time=f"{max(0.0, verdict.ended - verdict.started):.1f}")
    props = ET.SubElement(element, "properties")
    for key, value in (("run_id", verdict.run_id), ("file", verdict.file), ("status", verdict.status),
                       ("reason", verdict.reason)):
        ET.SubElement(props, "property", name=key, value=value)
    if not claims:
        case = ET.SubElement(element, "testcase", classname="devsim.experiment", name="experiment run", time="0")
        if verdict.status != "passed":
            ET.SubElement(case, "error", message=verdict.reason, type=verdict.status)
        return element
    for claim in claims:
        case = ET.SubElement(element, "testcase", classname="devsim.claim", name=claim.name, time="0")
        if claim.passed and claim.power in (VACUOUS, UNPROVEN):  # held, but --prove showed nothing by it
            node = ET.SubElement(case, "failure" if claim.power == VACUOUS else "error",
                                 message=f"{claim.power}: {claim.power_note}", type=f"Claim{claim.power.title()}")
            node.text = f"{claim.name}: held as shipped, but {claim.power}: {claim.power_note}"
            continue
        if claim.passed:
            continue
        message = f"expected {_show(claim.expected)}, measured {_show(claim.measured)}"
        if claim.error:
            message += f": {claim.error}"
        kind = "failure" if claim.outcome == FAILED else "error"
        node = ET.SubElement(case, kind, message=message, type=f"Claim{claim.outcome.title().replace(' ', '')}")
        node.text = f"{claim.name} ({claim.source}): {message}"
    return element


def write(path: Path, verdicts: Iterable[Verdict]) -> None:
    root = ET.Element("testsuites", name="devsim-experiments")
    for verdict in verdicts:
        root.append(suite(verdict))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
