"""`devsim up` removes the stack's exited containers once it is up (issue 32): each keeps its
writable layer on disk, with whatever an older release wrote there. Against the fake engine."""

from __future__ import annotations

import io
from collections.abc import Mapping

from harness.driver import ContainerInfo
from harness.progress import Progress
from harness.stack.lifecycle import remove_spent_containers
from tests.unit.fakedriver import FakeDriver


class WithContainers(FakeDriver):
    def __init__(self, found: list[ContainerInfo]) -> None:
        super().__init__("devsim")
        self.found = found

    def plain_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        return list(self.found)


def test_only_exited_and_dead_containers_go_and_the_count_is_said() -> None:
    driver = WithContainers([ContainerInfo("1", "devsim_db1.1.a", "db1", "t1", status="running"),
                             ContainerInfo("2", "devsim_db1.1.b", "db1", "t0", status="exited"),
                             ContainerInfo("3", "devsim_app.2.c", "app", "t0", status="dead"),
                             ContainerInfo("4", "devsim_app.1.d", "app", "t2", status="paused"),
                             ContainerInfo("5", "devsim_app.3.e", "app", "t2", status="created")])
    out = io.StringIO()
    assert remove_spent_containers(driver, Progress(stream=out)) == 2
    assert driver.calls == ["remove devsim_db1.1.b", "remove devsim_app.2.c"]
    assert out.getvalue().rstrip().endswith("removed 2 exited containers of earlier tasks")


def test_nothing_spent_says_nothing() -> None:
    driver = WithContainers([ContainerInfo("1", "devsim_db1.1.a", "db1", "t1", status="running")])
    out = io.StringIO()
    assert remove_spent_containers(driver, Progress(stream=out)) == 0
    assert (driver.calls, out.getvalue()) == ([], "")
