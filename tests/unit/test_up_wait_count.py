"""`devsim up`'s wait for every app replica (harness/target/devsim.py) counts what runs at
each look: the autoscaler may scale the app while up waits. With the count read once, a kept
count of 6 that the autoscaler scaled in to 3 kept up waiting for 6 until its timeout (found
running benchmarks/autoscale.py). One stub plays the load balancer and Prometheus."""

from __future__ import annotations

import io
import json

from harness.config import load_settings
from harness.progress import Progress
from harness.stack.waiting import Waiter
from harness.target import devsim
from tests.unit.fakedriver import FakeDriver
from tests.unit.httpstub import Answer, serving


def targets(apps: int) -> Answer:
    active = [{"labels": {"job": "app", "instance": f"10.0.0.{n}:3000"}, "health": "up"} for n in range(apps)]
    active.append({"labels": {"job": "lb", "instance": "lb:8405"}, "health": "up"})
    return Answer(200, json.dumps({"status": "success", "data": {"activeTargets": active}}))


def test_up_waits_for_the_count_that_runs_now_not_the_one_it_deployed() -> None:
    driver = FakeDriver("devsim-upwait", services={"app": 6})
    with serving() as (url, holder):
        port = int(url.rsplit(":", 1)[1])
        settings = load_settings({}).replace(lb_port=port, prometheus_port=port, tls=False)
        holder.script.answers[("GET", "/health")] = [Answer(200, "{}")]
        # up deployed the kept 6; Prometheus has seen only 3 of them when the autoscaler scales in to 3
        holder.script.answers[("GET", "/api/v1/targets")] = [targets(3)]
        looks: list[float] = []

        def sleep(seconds: float) -> None:
            looks.append(seconds)
            if len(looks) == 1:
                driver.update("app", replicas=3)  # the scale-in, between two looks

        stream = io.StringIO()
        devsim._wait_until_serving(driver, settings, Progress(stream=stream), Waiter(30.0, 0.01, sleep=sleep), None)
    assert len(looks) <= 3, looks  # done within a look or two of the scale-in, not at the timeout
    assert "app 3/3 (3 known)" in stream.getvalue()
