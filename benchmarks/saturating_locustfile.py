"""The stack's clients with no think time, so that throughput measures the load generator."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadtests"))

from locust import constant
from locustfile import StackClient  # also registers the harness's hooks (inactive without their options)

StackClient.wait_time = constant(0)
