"""Probes of the app's replica count under the autoscaler (issue #33): how long until it
reaches a count, up or down, and the autoscaler's decisions over the fault window.

Counts are the engine's (tasks running, healthy where the service has a health check), the
same the steady-state hypotheses read, so a scale is done when clients could be served by it.
"""

from __future__ import annotations

import time

from chaoslib.types import Configuration

from harness.chaos import runstate
from harness.chaos.evidence import Refuted
from harness.chaos.probes import ready_replicas
from harness.stack.waiting import Check, Waiter

__all__ = ["lowest_replicas", "seconds_until_replicas"]


def seconds_until_replicas(service: str = "app", count: int = 4, direction: str = "up", timeout: float = 120,
                           since: str | float = "last-action", configuration: Configuration = None) -> float:
    """Seconds from `since` (the latest action's start by default: a spike's) until the
    service runs at least (`up`) or at most (`down`) `count` ready replicas. Not reached
    within `timeout` of this probe's start: refuted, with the time waited as a lower bound."""
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be up or down, got {direction!r}")
    origin = runstate.origin(since)
    count = int(count)

    def reached() -> Check:
        ready = ready_replicas(service, configuration)
        return Check(ready >= count if direction == "up" else ready <= count, f"{ready} ready")

    last = Waiter(float(timeout), 0.5).until(reached)
    if last is None:
        word = "at least" if direction == "up" else "at most"
        raise Refuted(f"{service}: not {word} {count} ready replicas within {timeout:g} s "
                      f"({reached().status})", at_least=round(time.time() - origin, 2))
    return round(time.time() - origin, 2)


def lowest_replicas(service: str = "app", seconds: float = 30, configuration: Configuration = None) -> int:
    """The fewest ready replicas the service ran at, read every half second for `seconds`."""
    deadline = time.monotonic() + float(seconds)
    lowest = ready_replicas(service, configuration)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        lowest = min(lowest, ready_replicas(service, configuration))
    return lowest
