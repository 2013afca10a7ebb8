"""Waiting as a strategy: a timeout, a poll interval and an injectable clock and sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    """One look at the thing waited for: done or not, and a line saying where it stands."""

    done: bool
    status: str


@dataclass(frozen=True)
class Waiter:
    timeout: float
    interval: float = 1.0
    clock: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)

    def until(
        self,
        probe: Callable[[], Check],
        on_status: Callable[[str], None] = lambda _s: None,
    ) -> Check | None:
        """Polls until the probe reports done; returns its last check, or None on timeout.

        Returning None (not raising) lets the caller build the error, because only it
        knows which logs and hints explain the wait that failed.
        """
        deadline = self.clock() + self.timeout
        last: Check | None = None
        while True:
            last = probe()
            on_status(last.status)
            if last.done:
                return last
            if self.clock() >= deadline:
                return None
            self.sleep(min(self.interval, max(0.0, deadline - self.clock())))
