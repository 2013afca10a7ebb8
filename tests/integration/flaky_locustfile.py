"""The stack's clients plus one that asks for an item nobody wrote: every such read fails (404)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtests"))

from locust import task
from locustfile import StackClient


class FlakyClient(StackClient):
    @task(2)
    def missing(self) -> None:
        self.client.get("/api/items/never-written", name="GET /api/items/never-written")
