"""Small pieces of the judge, each outcome and message written out by hand: windows by name,
what a tolerance is shown as, and a series of repeated runs' status."""

from __future__ import annotations

import time

import pytest
from chaoslib.exceptions import ActivityFailed

from harness.chaos import controls, runstate, window
from harness.chaos.claims import _expected
from harness.verdict import trials
from harness.verdict.record import Verdict
from harness.verdict.trials import ClaimTrials


def test_a_window_given_as_a_pair_must_have_two_ends() -> None:
    assert window.resolve_window([1.5, 4]) == (1.5, 4.0)
    assert window.resolve_window((2, 3)) == (2.0, 3.0)
    with pytest.raises(ActivityFailed, match=r"^a window is \[start, end\], got \[1, 2, 3\]$"):
        window.resolve_window([1, 2, 3])


def test_named_windows_before_and_after_the_fault_opens() -> None:
    runstate.reset()
    with pytest.raises(ActivityFailed, match=r"^the fault window has not opened: no method action has started "
                                             r"\(is the harness.chaos.controls control declared\?\)$"):
        window.resolve_window("fault")
    with pytest.raises(ActivityFailed, match=r"^the method's first action has not ended yet$"):
        window.resolve_window("first-action")
    before = time.time()
    start, now = window.resolve_window("run")
    assert start == 0.0
    assert before <= now <= time.time()
    controls.before_experiment_control({})
    controls.before_method_control({})
    controls.before_activity_control({"type": "action", "name": "kill"})
    try:
        opened, end = window.resolve_window("fault")
        assert (opened, end) == (runstate.fault_start(), end)
        assert opened <= end <= time.time()
    finally:
        runstate.reset()


@pytest.mark.parametrize(("tolerance", "shown"), [
    ({"type": "range", "range": [0, 0.005]}, "between 0 and 0.005"),
    ({"type": "regex", "pattern": "^v2$"}, "matches ^v2$"),
    ({"type": "regex"}, "matches None"),
    ({"type": "jsonpath", "path": "$.x"}, {"type": "jsonpath", "path": "$.x"}),
    (200, 200),
    ("v2", "v2"),
])
def test_a_tolerance_is_shown_as_written_or_in_words(tolerance: object, shown: object) -> None:
    assert _expected(tolerance) == shown


def run(run_id: str, status: str, reason: str = "") -> Verdict:
    return Verdict(run_id=run_id, experiment="t", file="x.yaml", status=status, reason=reason, claims=())


def test_a_series_of_runs_is_passed_only_when_every_run_was_made_and_every_claim_held() -> None:
    held = ClaimTrials("c", 0, ("held", "held"), (0.0, 0.0))
    assert trials.status([run("a", "passed"), run("b", "passed")], [held], 2) == (
        "passed", "every one of 1 claims held in all 2 runs")
    assert trials.status([run("a", "passed"), run("b", "error", "boom"), run("c", "error", "bang")], [held], 3) == (
        "error", "run b ended in error: boom")
    assert trials.status([run("a", "passed")], [held], 2) == ("error", "only 1 of 2 runs were made")
    assert trials.status([run("a", "passed"), run("b", "passed")], [], 2) == ("error", "the experiment makes no claim")
    assert trials.status([run("a", "aborted", "stopped"), run("b", "passed")], [held], 2) == (
        "failed", "run a was aborted: stopped")
    once = ClaimTrials("c", 0, ("held", "failed"), (0.0, 1.0))
    never = ClaimTrials("d", 0, ("failed", "failed"), (1.0, 1.0))
    assert trials.status([run("a", "failed"), run("b", "failed")], [held, never, once], 2) == (
        "failed", "claim 'd' held in 0 of 2 runs")
    assert trials.status([run("a", "failed"), run("b", "passed")], [held, once], 2) == (
        "failed", "claim 'c' held in 1 of 2 runs (flaky)")
