"""Repeated trials (`devsim run --repeat N`): per claim, how many of the N runs it held in, the
spread of what was measured, and whether its outcome changed between runs (flaky).

Pure: verdicts in, a summary out. A claim a run did not judge counts as "no evidence" there.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.verdict.record import HELD, NO_EVIDENCE, Verdict

FILE = "trials.json"


@dataclass(frozen=True)
class ClaimTrials:
    name: str
    expected: Any
    outcomes: tuple[str, ...]  # one per run, in run order
    values: tuple[float, ...]  # the numeric values measured (runs without one are left out)

    @property
    def runs(self) -> int:
        return len(self.outcomes)

    @property
    def passes(self) -> int:
        return sum(o == HELD for o in self.outcomes)

    @property
    def flaky(self) -> bool:
        return len(set(self.outcomes)) > 1

    def spread(self) -> dict[str, float | None]:
        if not self.values:
            return {"median": None, "min": None, "max": None}
        return {"median": statistics.median(self.values), "min": min(self.values), "max": max(self.values)}

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "expected": self.expected, "passes": self.passes, "runs": self.runs,
                "flaky": self.flaky, "outcomes": list(self.outcomes), "values": list(self.values), **self.spread()}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def summarise(verdicts: Sequence[Verdict]) -> list[ClaimTrials]:
    """Each claim that any run judged, in the order the runs first judged them."""
    names: list[str] = []
    expected: dict[str, Any] = {}
    for verdict in verdicts:
        for claim in verdict.claims:
            if claim.name not in expected:
                names.append(claim.name)
                expected[claim.name] = claim.expected
    found = []
    for name in names:
        judged = [next((c for c in v.claims if c.name == name), None) for v in verdicts]
        outcomes = tuple(c.outcome if c else NO_EVIDENCE for c in judged)
        values = tuple(x for x in (_number(c.measured) if c else None for c in judged) if x is not None)
        found.append(ClaimTrials(name, expected[name], outcomes, values))
    return found


def status(verdicts: Sequence[Verdict], trials: Sequence[ClaimTrials], wanted: int) -> tuple[str, str]:
    """passed only when all `wanted` runs were made, none was aborted by a stop condition, and
    every claim held in each of them."""
    errors = [v for v in verdicts if v.status == "error"]
    if errors:
        return "error", f"run {errors[0].run_id} ended in error: {errors[0].reason}"
    if len(verdicts) < wanted:
        return "error", f"only {len(verdicts)} of {wanted} runs were made"
    if not trials:
        return "error", "the experiment makes no claim"
    aborted = [v for v in verdicts if v.status == "aborted"]
    if aborted:  # a stop condition tripped: the system failed, whatever the claims said
        return "failed", f"run {aborted[0].run_id} was aborted: {aborted[0].reason}"
    short = [t for t in trials if t.passes < t.runs]
    if short:
        t = short[0]
        return "failed", (f"claim {t.name!r} held in {t.passes} of {t.runs} runs"
                          + (" (flaky)" if t.flaky else ""))
    return "passed", f"every one of {len(trials)} claims held in all {wanted} runs"


def write(folder: Path, verdicts: Sequence[Verdict], trials: Sequence[ClaimTrials], wanted: int) -> Path:
    state, reason = status(verdicts, trials, wanted)
    path = folder / FILE
    path.write_text(json.dumps({"status": state, "reason": reason, "wanted": wanted,
                                "runs": [{"run_id": v.run_id, "status": v.status} for v in verdicts],
                                "claims": [t.as_dict() for t in trials]}, indent=2, default=str) + "\n")
    return path
