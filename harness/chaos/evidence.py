"""What a probe says when it cannot give a number: no evidence, or evidence against the claim.

Both are Chaos Toolkit's ActivityFailed, so a plain `chaos run` treats them as it treats any
failed probe. The judge tells them apart from every other failure (a crashed probe, an
unreachable Prometheus), which makes the verdict an error:
  NoEvidence  nothing to judge: no request in the window, no Prometheus sample, no write
              sent after the fault; the claim is marked "no evidence" and cannot pass;
  Refuted     what was measured already breaks any bound the probe was asked about: no new
              leader within its timeout, replicas not back within it; the claim fails, and
              `at_least` is the lower bound measured (seconds), when there is one;
  OpenEnded   only a lower bound could be measured (a gap or an outage still open where the
              log ends): the judge compares the bound with the tolerance, and the claim fails
              when the bound already breaks it, else it has no evidence.
"""

from __future__ import annotations

import re

from chaoslib.exceptions import ActivityFailed

_AT_LEAST = re.compile(r"\(at least (\d+(?:\.\d+)?) s\)")


class NoEvidence(ActivityFailed):  # type: ignore[misc]
    """Nothing in the evidence to judge the claim by."""


class Refuted(ActivityFailed):  # type: ignore[misc]
    """The evidence shows the claim cannot hold; the message ends "(at least N s)" when the
    figure is a time that ran past the probe's timeout."""

    def __init__(self, message: str, at_least: float | None = None) -> None:
        super().__init__(f"{message} (at least {at_least:g} s)" if at_least is not None else message)
        self.at_least = at_least


class OpenEnded(ActivityFailed):  # type: ignore[misc]
    """The figure is at least `at_least` (seconds): what it measures had not ended when the
    evidence did. The message ends "(at least N s)"."""

    def __init__(self, message: str, at_least: float) -> None:
        super().__init__(f"{message} (at least {at_least:g} s)")
        self.at_least = at_least


def kind_of(exception_lines: list[str] | None) -> str:
    """From a journal's recorded traceback: "no evidence", "refuted", "at least" or "error". Chaos Toolkit's
    Python provider wraps what a probe raises, so the last line reads
    `chaoslib.exceptions.ActivityFailed: harness.chaos.evidence.Refuted: ...`."""
    last = (exception_lines or [""])[-1].strip()
    while True:
        name, sep, rest = last.partition(": ")
        if name.endswith(f".{NoEvidence.__name__}"):
            return "no evidence"
        if name.endswith(f".{Refuted.__name__}"):
            return "refuted"
        if name.endswith(f".{OpenEnded.__name__}"):
            return "at least"
        if not sep or not name.endswith("ActivityFailed"):
            return "error"
        last = rest


def at_least(message: str) -> float | None:
    """The lower bound a Refuted message carries, if any."""
    found = _AT_LEAST.search(message)
    return float(found.group(1)) if found else None


def applied_at(output: object, start: float, end: float) -> float | None:
    """The moment an action says it applied its fault (`applied_at` in its output, seconds
    since the epoch; e.g. the kill after a cut-off of the replicas), when it is a number
    within the action's span [start, end]; None otherwise (the action's start stands)."""
    found = output.get("applied_at") if isinstance(output, dict) else None
    if isinstance(found, int | float) and not isinstance(found, bool) and start <= found <= end:
        return float(found)
    return None
