"""The deploy guard's judgement and the claims that read a deploy's result, without a stack.

The guard is fed readings by a stand-in for Prometheus that answers its three queries; the
integration tests run it against the real Prometheus (tests/integration/test_deploy.py)."""

from __future__ import annotations

import math

import pytest

from harness.chaos import claims as claimlib
from harness.deploy.guard import Guard, GuardPolicy, queries
from harness.metrics.prometheus import Sample


class Readings:
    """Answers the guard's queries from a list of (requests, errors, p95 s) per check."""

    def __init__(self, steps: list[tuple[float, float, float]]) -> None:
        self.steps = steps
        self.check = -1
        self.asked: list[str] = []

    def vector(self, query: str) -> list[Sample]:
        self.asked.append(query)
        if query.startswith("sum(increase(") and "status=~" not in query:
            self.check += 1
        requests, errors, p95 = self.steps[self.check]
        value = p95 if query.startswith("histogram_quantile") else errors if "status=~" in query else requests
        return [] if math.isnan(value) else [Sample({}, value)]


class Clock:
    """Seconds that move only when the test says so: one check a second by default."""

    def __init__(self, step: float = 1.0) -> None:
        self.now, self.step = 100.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def guard(steps: list[tuple[float, float, float]], clock: Clock | None = None, **policy: float) -> Guard:
    return Guard(Readings(steps), "v2-errors", GuardPolicy(**policy),  # type: ignore[arg-type]
                 clock=clock or Clock())


def test_queries_select_the_new_versions_user_requests() -> None:
    found = queries("v2-slow", 10)
    for query in found.values():
        assert 'version="v2-slow"' in query
        assert 'route!~"/health|/ready|/metrics"' in query
        assert "[10s]" in query
    assert 'status=~"5.."' in found["errors"]


def test_trips_on_the_error_ratio_after_consecutive_checks() -> None:
    g = guard([(50, 15, 0.2), (60, 18, 0.2), (60, 18, 0.2)], consecutive=2)
    assert g.check() == ""
    reason = g.check()
    assert "error ratio 30.0 % > 5 %" in reason
    assert "v2-errors" in reason


def test_trips_on_p95_once_it_stayed_over_for_p95_for_s() -> None:
    g = guard([(40, 0, 2.4)] * 14, p95_for_s=12)  # one check a second
    verdicts = [g.check() for _ in range(14)]
    assert verdicts[:12] == [""] * 12  # over since the first check: 0 .. 11 s
    assert "p95 2400 ms > 1000 ms (for 12 s)" in verdicts[12]  # 12 s after the first check over
    assert "error ratio" not in verdicts[12]


def test_a_burst_of_slow_seconds_shorter_than_p95_for_s_does_not_trip() -> None:
    # the CI case: a good release read 1753 ms for a few checks while a sibling task started
    slow, fast = (135, 0, 1.753), (135, 0, 0.12)
    g = guard([slow] * 10 + [fast] + [slow] * 10, p95_for_s=12)
    assert [g.check() for _ in range(21)] == [""] * 21  # a fast check starts the count again


def test_p95_for_s_is_time_not_checks() -> None:
    g = guard([(40, 0, 2.4)] * 4, clock=Clock(step=5.0), p95_for_s=12)  # checks 5 s apart
    assert [bool(g.check()) for _ in range(4)] == [False, False, False, True]  # over at 0, 5, 10, 15 s


def test_p95_for_s_zero_trips_at_the_first_check_over() -> None:
    assert "p95 2400 ms" in guard([(40, 0, 2.4)], p95_for_s=0).check()


def test_errors_trip_at_once_by_default_however_long_p95_for_s_is() -> None:
    reason = guard([(50, 15, 2.4)], p95_for_s=12).check()
    assert "error ratio 30.0 % > 5 % (1 checks in a row)" in reason
    assert "p95" not in reason


def test_a_healthy_release_and_too_few_requests_do_not_trip() -> None:
    g = guard([(50, 1, 0.25), (5, 5, 9.0), (float("nan"), float("nan"), float("nan"))])
    assert [g.check(), g.check(), g.check()] == ["", "", ""]


def test_a_breach_must_persist() -> None:
    g = guard([(50, 15, 0.2), (50, 0, 0.2), (50, 15, 0.2), (50, 15, 0.2)], consecutive=2)
    assert [bool(g.check()) for _ in range(4)] == [False, False, False, True]


def test_no_errors_series_counts_as_zero_errors() -> None:
    g = guard([(50, float("nan"), 0.2)])
    assert g.check() == ""
    assert g.last.error_ratio == 0.0


@pytest.mark.parametrize(("output", "tolerance", "passed"), [
    ({"outcome": "rolled-back", "restored_s": 12.5}, "rolled-back", True),
    ({"outcome": "live", "restored_s": None}, "rolled-back", False),
    ("not a mapping", "rolled-back", False),
])
def test_a_claim_reads_one_field_of_an_activity_output(output: object, tolerance: str, passed: bool) -> None:
    experiment = {"extensions": [{"name": "devsim", "claims": [
        {"name": "rolled back", "journal": "deploy", "field": "outcome", "tolerance": tolerance}]}]}
    journal = {"run": [{"activity": {"name": "deploy", "type": "action"}, "status": "succeeded", "output": output}]}
    [claim] = claimlib.extension_claims(experiment, journal, None, {})
    assert claim.passed is passed
    assert claim.source == "journal: deploy -> outcome"


def test_field_needs_a_journal_claim() -> None:
    spec = {"name": "x", "probe": "client_error_ratio", "field": "outcome", "tolerance": 0}
    assert any("'field'" in p for p in claimlib.spec_problems(spec, set()))
    spec = {"name": "x", "journal": "deploy", "figure": "latency", "tolerance": 0}
    assert any("figure must be one of" in p for p in claimlib.spec_problems(spec, {"deploy"}))
