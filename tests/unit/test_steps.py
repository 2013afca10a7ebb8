"""A range query's series judged over a window (harness.metrics.steps), with every figure
worked out by hand from the points below."""

from __future__ import annotations

import math

import pytest

from harness.metrics.steps import OverWindow, missing_steps, over_window

# two series over [100, 104], one point a second; summed per step: 11, 12, 3, 4, 6
TWO = [[(100.0, 1.0), (101.0, 2.0), (102.0, 3.0), (103.0, 4.0), (104.0, 5.0)],
       [(100.0, 10.0), (101.0, 10.0), (102.0, 0.0), (103.0, 0.0), (104.0, 1.0)]]


@pytest.mark.parametrize(("aggregate", "figure"), [
    ("max", 12.0), ("min", 3.0), ("avg", 7.2), ("first", 11.0), ("last", 6.0), ("increase", -5.0)])
def test_each_aggregate_of_the_per_step_sums(aggregate: str, figure: float) -> None:
    found = over_window(TWO, 100, 104, 1, aggregate)
    assert found == OverWindow(pytest.approx(figure), 5, 0)  # type: ignore[arg-type]


def test_an_unknown_aggregate_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"^aggregate must be one of max, min, avg, first, last, increase, "
                                         r"got 'median'$"):
        over_window(TWO, 100, 104, 1, "median")


def test_missing_and_nan_steps_are_both_counted_and_named() -> None:
    series = [[(100.0, 1.0), (101.0, math.nan), (103.0, 1.0), (104.0, 1.0)]]  # 102 missing, 101 NaN
    found = over_window(series, 100, 104, 1, "max")
    assert found == OverWindow(None, 5, 2, "1 of 5 steps have no sample; 1 of 5 steps are NaN")


def test_no_series_at_all_is_every_step_missing() -> None:
    assert over_window([], 100, 104, 1, "max") == OverWindow(None, 5, 5, "5 of 5 steps have no sample")


@pytest.mark.parametrize(("start", "end", "step", "steps"), [
    (0, 10, 2, 6),  # 0, 2, 4, 6, 8, 10
    (0, 9, 2, 5),  # 0 .. 8: 9 is not a step
    (5, 5, 2, 1),  # a window of one instant has one step
    (5, 4, 1, 0),  # an empty window has none
])
def test_a_window_with_no_points_misses_every_step(start: float, end: float, step: float, steps: int) -> None:
    assert missing_steps([], start, end, step) == steps


def test_missing_steps_between_points_and_at_the_edges() -> None:
    # step 2 over [0, 12]: points at 0, 2, 8. Missing: 4 and 6 between them; at the end,
    # 10 (12 - 8 = 4 s, two steps, one of them slack for Prometheus's rounding)
    assert missing_steps([0, 2, 8], 0, 12, 2) == 3
    # a gap of one step at an edge is slack, not a missing step
    assert missing_steps([2, 4, 6], 0, 8, 2) == 0
    # ... two steps at the start is one missing
    assert missing_steps([4, 6], 0, 6, 2) == 1
