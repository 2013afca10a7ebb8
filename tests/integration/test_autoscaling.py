"""The app's autoscaler on the real stack (issue #33): an experiment passes as shipped and its
negative control fails its claim on the measured value; `devsim up` keeps a scaled count.

The three experiments (5 to 10 minutes each with their controls) passed and failed this way by
hand and the spike in CI (docs/stack/autoscaling.md); the spike runs in the suite, the other
two are skipped there for its time budget (IN_THE_SUITE)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.config import PROJECT_ROOT, Settings
from tests.integration.conftest import devsim, explain, judged_again, switches_in_the_stack

pytestmark = pytest.mark.docker

EXPERIMENTS = PROJECT_ROOT / "experiments"

# The claim each control must fail, and the failing side of its tolerance, written by hand.
SHOWN_TO_FAIL: dict[str, tuple[str, str, Callable[[Any], bool]]] = {
    # with the autoscaler only logging, no fourth replica comes: refuted after the probe's 90 s
    "traffic-spike-autoscale": ("a fourth replica serves within 60 s of the spike's start", "> 60",
                                lambda v: v > 60),
    # reading "no answer" as "no load", it scales in to the floor under the spike
    "autoscale-metrics-outage": ("the replica count holds at 4 or more while Prometheus is down", "< 4",
                                 lambda v: v < 4),
    "autoscale-during-deploy": ("the autoscaler scales out once the update is over", "> 60", lambda v: v > 60),
}


# The suite's budget (docs/development/tests.md): a clean-clone run without them took 41 min
# (2026-12-07, run A), the spike (alone) adds about 5.5; the other two (about 15 min more, and
# alone for the same reason) are skipped there, and run with DEVSIM_ALL_SCALING=1.
IN_THE_SUITE: set[str] = {"traffic-spike-autoscale"}
ALL = os.environ.get("DEVSIM_ALL_SCALING") == "1"


# Alone: on two cores shared with the other lane's experiments, the spike reached 60 requests a
# second instead of 200 (CI, 2026-12-07), too few to scale for, and 107 of its requests timed out.
@pytest.mark.alone
@pytest.mark.parametrize("name", [
    n if n in IN_THE_SUITE or ALL else pytest.param(n, marks=pytest.mark.skip(
        reason="no room in the suite's budget; passed and failed by hand (docs/stack/autoscaling.md); "
               "DEVSIM_ALL_SCALING=1 runs it"))
    for n in sorted(SHOWN_TO_FAIL)])
def test_each_scaling_experiment_passes_and_its_control_fails_its_claim(stack: Settings, name: str) -> None:
    done = devsim("run", "--no-up", "--prove", "--json", str(EXPERIMENTS / f"{name}.yaml"), timeout=1500)
    assert done.returncode == 0, explain(done)
    [summary] = json.loads(done.stdout)
    run_dir = Path(summary["run_dir"])
    verdict = judged_again(run_dir)
    assert verdict["status"] == "passed", verdict["reason"]
    claim, side, failing = SHOWN_TO_FAIL[name]
    [control] = verdict["controls"]
    under = {c["name"]: c for c in judged_again(run_dir.parent / control["run_id"])["claims"]}
    assert under[claim]["outcome"] == "failed", under[claim]
    # a wait that never ended is refuted: no figure, the time waited as a lower bound
    value = under[claim]["measured"] if under[claim]["measured"] is not None else under[claim]["at_least"]
    assert value is not None, under[claim]
    assert failing(value), f"{claim}: measured {value}, expected {side}"
    assert switches_in_the_stack() == {}


def test_up_keeps_the_autoscalers_count(stack: Settings) -> None:
    """A count above the floor, as the autoscaler would set it, survives a plain `devsim up`
    and is said; AUTOSCALER=off puts the floor back."""
    done = devsim("up", "--set", "AUTOSCALER=off")  # the floor, and nothing moves it
    assert done.returncode == 0, explain(done)
    # the engine's own scale, as the gate makes it
    try:
        subprocess.run(["docker", "service", "scale", "--detach", f"{stack.stack}_app=4"], check=True, timeout=60)
        done = devsim("up")  # the autoscaler back on: 4 is a count it could have set
        assert done.returncode == 0, explain(done)
        assert "keeping app at 4 replicas, the autoscaler's count (its floor is 3)" in done.stderr
    finally:  # the floor for the lane's next test, as an idle app's autoscaler would leave it a minute later
        subprocess.run(["docker", "service", "scale", f"{stack.stack}_app=3"], check=True, timeout=120,
                       capture_output=True)
