"""A plain Locust load shape that follows the stages `devsim load --shape` checked and gave
in DEVSIM_SHAPE (JSON: [[seconds, users, spawn_rate, phase], ...]); Locust stops the run
when the last stage ends. Run by hand: `locust -f loadtests/locustfile.py,loadtests/shapes.py`
with DEVSIM_SHAPE set.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from locust import LoadTestShape


def stages_from(text: str) -> list[tuple[float, int, float, str]]:
    found = json.loads(text or "[]")
    return [(float(s), int(u), float(r), str(p)) for s, u, r, p in found]


def log_phase(phase: str, users: int) -> None:
    """A line `time,phase,users` in DEVSIM_SHAPE_LOG (the harness's SLOs of a phase read it)."""
    path = os.environ.get("DEVSIM_SHAPE_LOG")
    if path:
        with open(path, "a") as log:
            log.write(f"{time.time():.3f},{phase},{users}\n")


class DevsimShape(LoadTestShape):
    """Each stage's users at its spawn rate for its seconds; the current phase in `phase`."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = stages_from(os.environ.get("DEVSIM_SHAPE", ""))
        self.phase = ""

    def tick(self) -> Any:
        elapsed = self.get_run_time()
        end = 0.0
        for seconds, users, rate, phase in self.stages:
            end += seconds
            if elapsed < end:
                if phase != self.phase:
                    self.phase = phase
                    log_phase(phase, users)
                return users, rate
        return None
