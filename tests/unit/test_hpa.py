"""The autoscaler's decision (target-stack/autoscaler/hpa.py, issue #33) against the
HorizontalPodAutoscaler's documented rules, with hand-worked numbers: the formula and its
tolerance, not-ready replicas, the stabilisation windows, the rate policies, the bounds, and
the two holds its users asked for (a failed metric, a rollout)."""

from __future__ import annotations

import itertools

import pytest

from tests.unit.scripts import load_script

hpa = load_script("target-stack/autoscaler/hpa.py", "devsim_hpa")


def scaler(**overrides: float | str) -> object:
    policy = {"target": 10.0, "minimum": 2, "maximum": 10, "up_window_s": 0.0, "down_window_s": 0.0, **overrides}
    return hpa.Autoscaler(hpa.Policy(**policy))


def test_desired_is_the_load_over_the_target_rounded_up() -> None:
    assert scaler().decide(0, 3, 3, 61.0).desired == 7  # ceil(61 / 10)
    assert scaler().decide(0, 6, 6, 31.0).desired == 4  # ceil(31 / 10), down
    assert scaler().decide(0, 3, 3, 0.0).desired == 2  # nothing to carry: the minimum


def test_no_change_within_the_tolerance() -> None:
    assert scaler().decide(0, 3, 3, 32.9).desired == 3  # ratio 1.097: within 10 %
    assert scaler().decide(0, 3, 3, 33.1).desired == 4  # ratio 1.103: out
    assert scaler().decide(0, 4, 4, 36.5).desired == 4  # ratio 0.9125: within
    assert scaler().decide(0, 4, 4, 35.9).desired == 4  # ceil(3.59) is 4 again
    assert scaler(tolerance=0.0).decide(0, 3, 3, 30.5).desired == 4


def test_not_ready_replicas_carry_nothing_up_and_are_ignored_down() -> None:
    # 4 replicas, 2 ready, load 30: ready ones run at 150 % -> down is not considered; up
    # counts all 4 (75 %): ceil(30 / 10) = 3 is below 4, so the scale-down rule applies with
    # the 2 ready ones: ratio 1.5, out of tolerance, wanted 3
    assert scaler().decide(0, 4, 2, 30.0).desired == 3
    # 3 replicas, 1 ready, load 32: up counts all 3 (ratio 1.067, within): no change
    assert scaler().decide(0, 3, 1, 32.0).desired == 3


def test_bounds_hold() -> None:
    assert scaler().decide(0, 3, 3, 500.0).desired == 7  # +4 pods in a period at the most (3 -> 7)
    assert scaler(up_pods=0, up_percent=1000).decide(0, 3, 3, 500.0).desired == 10  # the maximum
    assert scaler().decide(0, 1, 1, 0.0).desired == 2  # below the minimum: back to it


def test_scale_up_is_limited_per_period_to_the_larger_of_percent_and_pods() -> None:
    s = scaler(up_percent=100, up_pods=1, period_s=15)
    assert s.decide(0, 2, 2, 100.0).desired == 4  # 2 + max(100 % of 2, 1)
    assert s.decide(5, 4, 2, 100.0).desired == 4  # within the same period: from 2, at most 4
    assert s.decide(16, 4, 4, 100.0).desired == 8  # a period later: from 4, at most 8


def test_scale_down_keeps_the_highest_recommendation_of_its_window() -> None:
    s = scaler(down_window_s=60)
    assert s.decide(0, 6, 6, 60.0).desired == 6
    assert s.decide(20, 6, 6, 20.0).desired == 6  # 2 recommended, 6 within the last 60 s
    assert s.decide(59, 6, 6, 20.0).desired == 6
    assert s.decide(61, 6, 6, 20.0).desired == 2  # the 6 left the window


def test_without_a_down_window_a_noisy_signal_flaps_and_with_one_it_does_not() -> None:
    loads = [60, 20, 60, 20, 60, 20, 60, 20]
    for window, flips in ((0.0, 7), (300.0, 0)):
        s = scaler(down_window_s=window, up_pods=10)
        current, seen = 6, []
        for n, load in enumerate(loads):
            current = s.decide(n * 15.0, current, current, float(load)).desired
            seen.append(current)
        changes = sum(1 for a, b in itertools.pairwise(seen) if a != b)
        assert changes == flips, (window, seen)


def test_it_holds_when_the_load_cannot_be_read_or_a_rollout_runs() -> None:
    s = scaler()
    for load in (None, float("nan"), -1.0):
        decision = s.decide(0, 5, 5, load)
        assert decision.desired == 5
        assert decision.reason.startswith("hold: no reading of the load")
    decision = s.decide(0, 5, 3, 500.0, updating=True)
    assert (decision.desired, decision.reason) == (5, "hold: a rolling update or rollback is in progress")
    assert s.recommendations == []  # a hold records nothing for the windows


def test_without_a_reading_the_fallback_to_the_minimum_scales_in_as_keda_did() -> None:
    s = scaler(on_no_reading="minimum")  # type: ignore[arg-type]
    decision = s.decide(0, 5, 5, None)
    assert (decision.desired, decision.reason) == (2, "no reading of the load (the query failed or was empty): "
                                                      "down to the minimum")


def test_an_app_taken_down_to_zero_stays_down_whatever_the_load_or_the_minimum() -> None:
    s = scaler()
    for load in (None, 0.0, 500.0):
        decision = s.decide(0, 0, 0, load)
        assert decision.desired == 0, decision
        assert decision.reason.startswith("hold: the app is scaled to 0")
    assert s.decide(0, 1, 1, 500.0).desired > 1  # one replica back: it scales again


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"target": 0.0}, "the target must be above 0, got 0"),
    ({"minimum": 5, "maximum": 3}, "the bounds must be 1 <= min <= max, got min 5, max 3"),
    ({"tolerance": 1.0}, "the tolerance must be in [0, 1), got 1"),
    ({"down_window_s": -1.0}, "down_window_s must be between 0 and 3600 s, got -1"),
    ({"lead_s": -5.0}, "lead_s must be between 0 and 3600 s, got -5"),
])
def test_a_policy_that_cannot_work_names_its_problem(overrides: dict[str, float], problem: str) -> None:
    policy = {"target": 10.0, **overrides}
    assert hpa.Policy(**policy).problems() == [problem]
    assert hpa.Policy(target=10.0).problems() == []


def test_every_decision_says_why() -> None:
    decision = scaler(down_window_s=60).decide(0, 3, 3, 61.0)
    assert decision.reason == "load 61 / target 10 per replica: 7 recommended"


def test_predictive_a_rising_trend_adds_one_replica_before_the_load_asks() -> None:
    # load 32 on 3 replicas of 10: within the tolerance (1.067), no change; its trend says 52
    # in lead_s (ceil(52 / 10) = 6): one replica ahead, 4, not 6
    assert scaler().decide(0, 3, 3, 32.0, predicted=52.0).desired == 3  # reactive: the trend is ignored
    decision = scaler(predictive=True).decide(0, 3, 3, 32.0, predicted=52.0)
    assert decision.desired == 4
    assert decision.reason == ("load 32 / target 10 per replica: 4 recommended, one ahead of it "
                               "(predicted 52 in 20 s)")


def test_predictive_leaves_the_decision_to_the_load_when_it_asks_for_more() -> None:
    # at 4, the load 50 asks for 5 (ratio 1.25); a trend of 90 (9) adds nothing on top: a line
    # went on rising past a ramp's end and overshot by a replica (benchmarks/autoscale.py)
    decision = scaler(predictive=True).decide(0, 4, 4, 50.0, predicted=90.0)
    assert (decision.desired, decision.reason) == (5, "load 50 / target 10 per replica: 5 recommended")


def test_predictive_needs_the_trend_past_the_tolerance_too() -> None:
    assert scaler(predictive=True).decide(0, 3, 3, 30.0, predicted=32.9).desired == 3  # 32.9 / 30: within 10 %
    assert scaler(predictive=True).decide(0, 3, 3, 30.0, predicted=33.1).desired == 4  # out: one ahead


def test_predictive_never_scales_in_on_a_trend_nor_below_what_the_load_asks() -> None:
    s = scaler(predictive=True)
    assert s.decide(0, 6, 6, 60.0, predicted=5.0).desired == 6  # a falling trend: the load decides
    assert s.decide(15, 6, 6, 20.0, predicted=0.0).desired == 2  # down on the load alone, as reactive
    assert s.decide(30, 3, 3, 61.0, predicted=62.0).desired == 7  # the load asks more than the trend
    for nothing in (None, float("nan"), float("inf")):
        assert s.decide(45, 3, 3, 32.0, predicted=nothing).desired == 3  # no trend: reactive
    assert scaler(predictive=True, maximum=3).decide(0, 3, 3, 32.0, predicted=90.0).desired == 3  # the bounds


def test_a_step_ahead_is_kept_by_the_down_window() -> None:
    s = scaler(predictive=True, down_window_s=60)
    assert s.decide(0, 3, 3, 32.0, predicted=52.0).desired == 4
    assert s.decide(5, 4, 4, 30.0, predicted=30.0).desired == 4  # 3 recommended, the 4 is in the window
    assert s.decide(61, 4, 4, 30.0, predicted=30.0).desired == 3


def test_predictive_steps_wait_lead_s_after_any_change() -> None:
    # a rising trend every loop (5 s): a step at 0, none at 5 to 15 (within lead_s = 20 of it),
    # the next at 20; the load itself (40 on 4: within) asks for nothing all along
    s = scaler(predictive=True, lead_s=20.0)
    counts, current = [], 3
    for t in (0, 5, 10, 15, 20):
        current = s.decide(float(t), current, current, 10.0 * current, predicted=20.0 * current).desired
        counts.append(current)
    assert counts == [4, 4, 4, 4, 5]
    # a change of the load's own also starts the wait: 4 -> 6 at 0, no step at 10
    s = scaler(predictive=True, lead_s=20.0)
    assert s.decide(0.0, 4, 4, 60.0).desired == 6
    assert s.decide(10.0, 6, 6, 60.0, predicted=90.0).desired == 6
    assert s.decide(20.0, 6, 6, 60.0, predicted=90.0).desired == 7
