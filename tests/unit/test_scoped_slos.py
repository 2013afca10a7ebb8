"""SLOs scoped to a request name or a load shape's phase (issue #33): parsed, checked
against the shape before any load, and measured from the request log and the shape's log."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.load import scoped, slo
from harness.load.clientlog import Request
from harness.load.shapes import Stage


def req(at_s: float, name: str, latency_ms: float, success: bool = True) -> Request:
    return Request(int(at_s * 1000), name, 200 if success else 503, latency_ms, success, "", "")


ROWS = [req(100.0, "GET /api/items/:id", 10), req(100.5, "GET /api/items/:id", 20),
        req(101.0, "POST /api/items", 300, success=False),  # base
        req(110.0, "GET /api/items/:id", 400), req(110.2, "GET /api/items/:id", 500, success=False),
        req(111.0, "POST /api/items", 50)]  # spike
PHASES = [("base", 100.0, 110.0), ("spike", 110.0, 112.0)]


@pytest.mark.parametrize(("expression", "expected"), [
    ('p95{name="GET /api/items/:id"}<300ms', 500),
    ('max{name="GET /api/items/:id", phase="base"}<1s', 20),
    ('error_ratio{phase="spike"}<1%', 1 / 3),
    ('failures{phase="base"}==0', 1),
    ('requests{name="POST /api/items"}>0', 2),
    ('rps{phase="spike"}>1', 1.5),  # 3 requests in the spike's 2 s
    ('avg{name="POST /api/items",phase="spike"}<100', 50),
])
def test_a_scoped_slo_measures_its_requests_only(expression: str, expected: float) -> None:
    objective = slo.parse(expression)
    assert scoped.measure(objective, ROWS, PHASES) == pytest.approx(expected)


def test_a_scope_that_matches_nothing_measures_nothing_and_fails() -> None:
    objective = slo.parse('p95{name="GET /nowhere"}<300ms')
    assert math.isnan(scoped.measure(objective, ROWS, PHASES))
    [result] = slo.evaluate((objective,), {"p95": 1.0}, lambda o: scoped.measure(o, ROWS, PHASES))
    assert not result.passed


def test_unscoped_slos_keep_the_run_totals() -> None:
    plain, narrow = slo.parse("p95<300"), slo.parse('p95{phase="base"}<300')
    results = slo.evaluate((plain, narrow), {"p95": 250.0}, lambda o: 999.0)
    assert [(r.measured, r.passed) for r in results] == [(250.0, True), (999.0, False)]


@pytest.mark.parametrize(("expression", "message"), [
    ('p95{nam="x"}<1', "bad SLO 'p95{nam=\"x\"}<1': a scope takes name and phase once each; bad label 'nam'"),
    ("p95{name=x}<1", "bad SLO 'p95{name=x}<1': expected label=\"value\" (name or phase), got 'name=x}<1'"),
    ('p95{name="a",name="b"}<1', "bad SLO 'p95{name=\"a\",name=\"b\"}<1': a scope takes name and phase once each; "
                                 "bad label 'name'"),
])
def test_a_bad_scope_is_a_syntax_error_naming_the_token(expression: str, message: str) -> None:
    with pytest.raises(slo.SloSyntaxError) as raised:
        slo.parse(expression)
    assert str(raised.value) == message


def test_a_phase_must_be_one_of_the_shapes_before_any_load() -> None:
    stages = [Stage(10, 5, 5, "base"), Stage(5, 20, 20, "spike")]
    scoped.check((slo.parse('p95{phase="spike"}<1s'),), stages)
    with pytest.raises(UsageError) as raised:
        scoped.check((slo.parse('p95{phase="peak"}<1s'),), stages)
    assert str(raised.value) == "SLO 'p95{phase=\"peak\"}<1s' names phase 'peak'; the shape's phases: base, spike"
    with pytest.raises(UsageError) as raised:
        scoped.check((slo.parse('p95{phase="spike"}<1s'),), [])
    assert str(raised.value) == ("SLO 'p95{phase=\"spike\"}<1s' names a phase; phases come from a load shape "
                                 "(--shape)")


def test_phases_are_read_from_the_shapes_log_the_last_to_the_end(tmp_path: Path) -> None:
    log = tmp_path / "shape.csv"
    log.write_text("100.0,base,5\n110.0,spike,20\n")
    assert scoped.read_phases(log, 125.0) == [("base", 100.0, 110.0), ("spike", 110.0, 125.0)]
    assert scoped.read_phases(tmp_path / "none.csv", 125.0) == []
