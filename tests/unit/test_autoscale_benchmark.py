"""The autoscale benchmark's claim (benchmarks/autoscale.py, issue #33): predictive at capacity
a stated margin earlier than reactive, with no more overshoot; judged on hand-written runs."""

from __future__ import annotations

from typing import Any

from benchmarks.autoscale import claim


def runs(until_4: float, until_5: float, overshoot: float) -> list[dict[str, Any]]:
    return [{"until_4": until_4, "until_5": until_5, "overshoot": overshoot},
            {"until_4": until_4 + 2, "until_5": until_5 + 2, "overshoot": overshoot}]


def test_earlier_with_no_more_overshoot_holds() -> None:
    said = claim({"reactive": runs(52, 85, 0), "predictive": runs(30, 60, 0)})
    assert "no more overshoot: **held**. Earlier by 22 s and 25 s (held); overshoot 0 against 0 (held)." in said


def test_more_overshoot_fails_however_early() -> None:
    said = claim({"reactive": runs(52, 85, 0), "predictive": runs(28, 33, 1)})
    assert said.endswith("**failed**. Earlier by 24 s and 52 s (held); overshoot 1 against 0 (failed).")


def test_a_lead_under_the_margin_fails() -> None:
    said = claim({"reactive": runs(52, 85, 0), "predictive": runs(45, 80, 0)})  # 7 s and 5 s: under 10
    assert "**failed**. Earlier by 7 s and 5 s (failed)" in said


def test_a_mode_without_a_figure_is_not_judged() -> None:
    assert claim({"reactive": runs(52, 85, 0), "predictive": []}) == "Claim: not judged (no until_4 in a mode)."
