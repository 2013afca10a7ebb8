"""Every exec into a container ends (harness/driver/swarm.py): a process still running at
its time-out is killed from the host with its children, and the call says so; on the real
engine, in a container of the test's own."""

from __future__ import annotations

import time
from collections.abc import Iterator

import docker
import pytest

from harness.driver import ContainerInfo, driver_for
from harness.driver.base import TIMED_OUT

pytestmark = pytest.mark.docker

STACK = "devsim-exec-test"


@pytest.fixture
def container() -> Iterator[ContainerInfo]:
    client = docker.from_env()
    made = client.containers.run("debian:bookworm-slim", ["sleep", "300"], detach=True, network_mode="none",
                                 labels={"devsim.stack": STACK}, name=f"{STACK}-{time.monotonic_ns()}")
    try:
        yield ContainerInfo(made.id, made.name, "exec-test", "")
    finally:
        made.remove(force=True)


def processes(container: ContainerInfo) -> list[str]:
    """Each process's name and state ("sleep S", "sleep Z" for a zombie), this check's own left out."""
    code, out = driver_for(STACK).exec(container, ["sh", "-c", "for f in /proc/[0-9]*/stat; do [ \"${f#/proc/}\" = "
                                                   "\"$$/stat\" ] || cut -d' ' -f2,3 $f; done"], timeout=10)
    assert code == 0, out
    return [line.strip("()").replace(") ", " ") for line in out.splitlines() if line]


def test_a_process_that_hangs_is_killed_at_its_time_out_with_its_children(container: ContainerInfo) -> None:
    started = time.monotonic()
    found = driver_for(STACK).exec(container, ["sh", "-c", "sleep 120 & sleep 121"], timeout=1.5)
    took = time.monotonic() - started
    assert found == (TIMED_OUT, f"`sh` timed out after 1.5 s in {container.name}")
    assert 1.5 <= took < 12, took
    # the container's own sleep is the one process left alive; a child the exec's shell had
    # not reaped when it was killed may stay a zombie of the container's first process, which
    # (a plain sleep here) reaps nothing
    assert [p for p in processes(container) if not p.endswith(" Z")] == ["sleep S"]


def test_a_process_within_its_time_out_gives_its_code_and_output(container: ContainerInfo) -> None:
    code, out = driver_for(STACK).exec(container, ["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    assert (code, sorted(out.splitlines())) == (3, ["err", "out"])  # both streams, in either order
