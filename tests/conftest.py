"""Three lanes, two stacks: the suite runs in three pytest-xdist workers. Lanes 0 and 1 each
have a stack of their own on the same engine (its own name, label, ports and Docker
objects), so that the integration modules wait on two stacks at once instead of one after
the other; lane 2 runs the tests that need no stack (unit, browser), in the time the stack
lanes spend waiting on their stacks (a rollout, a rule's `for`, 90 s of writes).

Which module runs in which lane is fixed here (not balanced at run time): the modules of a
lane share its stack and run in the order tests/integration/conftest.py gives them (the
teardown, the development profile and the users' journeys reuse the state the modules
before them leave, so they stay together in lane 0, on the default stack). Lane 1 takes the
long database, backup, deploy and alert modules (the longer lane: 41 of a 41-minute run,
lane 0 about 37), on the stack `devsim-b` with ports of its
own (LANE_ENV). With fewer workers a lane folds onto worker `lane % workers` (`-n 2`: the
stackless tests back in lane 0); with `-n 0` (or `-p no:xdist`) everything runs in one
process on the default stack.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Property tests run beside a lane of integration tests on two cores: Hypothesis's 200 ms
# deadline per example measures the machine's load, not the code (an example that took
# longer once fails the test as "flaky"). Each property still runs its examples.
settings.register_profile("devsim", deadline=None)
settings.load_profile("devsim")

# Integration modules of lane 1; the other integration modules are lane 0's, and every test
# outside tests/integration (unit, browser: no stack) lane 2's.
LANE_1 = frozenset({"test_backups.py", "test_database.py", "test_deploy.py", "test_alerts.py"})

# What a worker of each lane sets before anything reads the settings: lane 0 is the default
# stack; lane 1 a second stack with every published port of its own (port block 2, apart
# from the defaults, test_errors.py's 18xxx and test_teardown.py's neighbour, 38xxx).
LANE_ENV: dict[int, dict[str, str]] = {
    0: {},
    # ports 28080, 28443, 29090, 29091, 28025; its run folders and report index apart from lane 0's
    1: {"DEVSIM_STACK": "devsim-b", "DEVSIM_PORT_BLOCK": "2",
        "DEVSIM_REPORTS_DIR": str(Path(__file__).resolve().parent.parent / "reports" / "devsim-b")},
    2: {},  # no stack of its own: its tests use none (the ones that read settings read the defaults)
}


def lane_of(nodeid: str) -> int:
    folder, _, module = nodeid.split("::", 1)[0].rpartition("/")
    if not folder.endswith("tests/integration"):
        return 2
    return 1 if module in LANE_1 else 0


def worker_lane() -> int:
    """This process's lane: gw1 is lane 1, gw2 lane 2; the controller, gw0 or no xdist at all
    lane 0."""
    return {"gw1": 1, "gw2": 2}.get(os.environ.get("PYTEST_XDIST_WORKER", ""), 0)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.update(LANE_ENV[worker_lane()])


# A test marked `alone` takes ALONE exclusively; every other test of a lane takes it shared.
# TURNSTILE keeps a stream of shared takers from starving the exclusive one: the alone test
# holds it while it waits, and every other test passes through it before taking ALONE.
LOCKS = Path(os.environ.get("DEVSIM_SUITE_LOCKS", "/tmp"))
TURNSTILE = LOCKS / "devsim-suite.turnstile"
ALONE = LOCKS / "devsim-suite.alone"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Each test's whole protocol holds the lock: its setup too, where the session's and the
    module's fixtures start (the other lane's `devsim up` of its stack ran beside the alone
    calibration test when only the test's own function-scoped part held it)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:  # one process: nothing runs beside it
        yield
        return
    alone = item.get_closest_marker("alone") is not None
    with TURNSTILE.open("a") as turnstile, ALONE.open("a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if not alone:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            fcntl.flock(turnstile, fcntl.LOCK_UN)


class Lanes:
    """An xdist scheduler that gives each worker its lane's tests, all at once, in collection
    order (xdist's own schedulers balance by load, which would put a module on whichever
    stack is free and break the order the staged modules rely on)."""

    def __init__(self, config: pytest.Config) -> None:
        from xdist.scheduler.loadscope import LoadScopeScheduling  # only where xdist runs

        self._base = LoadScopeScheduling(config)
        self._base._split_scope = lambda nodeid: f"lane{lane_of(nodeid)}"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def schedule(self) -> None:
        base = self._base
        assert base.collection_is_completed
        if base.collection is not None or not base._check_nodes_have_same_collection():
            return
        base.collection = list(next(iter(base.registered_collections.values())))
        nodes = sorted(base.nodes, key=lambda n: n.gateway.id)
        for index, node in enumerate(nodes):
            mine = [i for i, nodeid in enumerate(base.collection) if lane_of(nodeid) % len(nodes) == index]
            for i in mine:
                nodeid = base.collection[i]
                base.assigned_work[node].setdefault(base._split_scope(nodeid), {})[nodeid] = False
            if mine:
                node.send_runtest_some(mine)
            node.shutdown()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Lanes:
    return Lanes(config)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With DEVSIM_TEST_TIMES=<file>, each test's phases as they end (lane, end time, phase,
    seconds, outcome, test), to see where a run's lanes spend their time and wait."""
    path = os.environ.get("DEVSIM_TEST_TIMES")
    if path:
        import time

        with open(path, "a") as out:
            out.write(f"{worker_lane()}\t{time.time():.1f}\t{report.when}\t{report.duration:.1f}\t"
                      f"{report.outcome}\t{report.nodeid}\n")
