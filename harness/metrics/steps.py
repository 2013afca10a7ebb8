"""A range query's series judged over a window: summed per step, then one figure.

Pure, so that what a claim measured from Prometheus can be checked by hand. A step with no
value (the series absent: every target gone) or a NaN value (a ratio of nothing) is a step
without evidence; a figure over a window with such steps says nothing about them, so it is
not given (Python's max and min would skip a NaN that is not first, and a missing step is
no point at all).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

AGGREGATES = ("max", "min", "avg", "first", "last", "increase")
Points = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class OverWindow:
    value: float | None  # None: not every step has evidence
    steps: int  # the steps the window has
    missing: int  # steps with no value or a NaN one
    why: str = ""


def missing_steps(stamps: Sequence[float], start: float, end: float, step: float) -> int:
    """Steps of the window with no point: between the points, and from the window's edges to
    the first and last (a step's worth of slack at the edges, for Prometheus's rounding)."""
    if not stamps:
        return math.floor((end - start) / step + 1e-9) + 1 if end >= start else 0
    inner = sum(max(0, round((b - a) / step) - 1) for a, b in itertools.pairwise(stamps))
    edges = (max(0, math.floor((gap / step) - 0.01)) for gap in (stamps[0] - start, end - stamps[-1]))
    return inner + sum(edges)


def over_window(series: Sequence[Points], start: float, end: float, step: float, aggregate: str) -> OverWindow:
    """The series summed per step, then aggregated over time: max, min, avg, first, last, or
    increase (last minus first); no value when any step of the window lacks one."""
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
    per_step: dict[float, float] = {}
    for points in series:
        for ts, value in points:
            per_step[ts] = per_step.get(ts, 0.0) + value
    stamps = sorted(per_step)
    absent = missing_steps(stamps, start, end, step)
    nan = sum(math.isnan(v) for v in per_step.values())
    wanted = len(stamps) + absent
    if not per_step or nan or absent:
        parts = [f"{absent} of {wanted} steps have no sample"] if absent else []
        parts += [f"{nan} of {wanted} steps are NaN"] if nan else []
        return OverWindow(None, wanted, absent + nan, "; ".join(parts))
    values = [per_step[t] for t in stamps]
    figure = {"max": max(values), "min": min(values), "avg": math.fsum(values) / len(values), "first": values[0],
              "last": values[-1], "increase": values[-1] - values[0]}[aggregate]
    return OverWindow(figure, wanted, 0)
