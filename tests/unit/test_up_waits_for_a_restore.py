"""`devsim up` right after an interrupted restore waits for the restoring node to lead before
it deploys (harness/target/restore_order.py): the deploy restarted db1 while it replayed the
WAL, and Patroni promoted what it had replayed, without the newest rows (CI, twice). One
fake plays etcd (the order) and Patroni (db1 without a leader's role until it has replayed)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest

from harness.config import load_settings
from harness.driver.model import ContainerInfo
from harness.errors import InfrastructureError
from harness.progress import Progress
from harness.stack.waiting import Waiter
from harness.target import restore_order
from harness.target.devsim import DevsimStack
from tests.unit.fakedriver import FakeDriver

MEMBERS = ("db1", "db2", "db3")
ORDER = '{"id": "1796122740", "repo": 1, "target": "latest"}'


class Restoring(FakeDriver):
    """etcd holding `order`; db1 the only node running (the restore started it alone), with
    no leader until Patroni's /cluster was asked `leads_after` times (0: never)."""

    def __init__(self, order: str, leads_after: int) -> None:
        super().__init__(services={"etcd": 1})
        self.add_patroni(*MEMBERS)
        self.roles = {"db1": "replica"}
        self.member_state = {"db1": "starting"}
        for member in MEMBERS[1:]:
            self.update(member, replicas=0)
        self.order, self.leads_after, self.looks = order, leads_after, 0
        self.etcd: list[str] = []

    def exec(self, container: ContainerInfo, argv: Sequence[str], user: str = "",
             detach: bool = False, timeout: float = 300.0) -> tuple[int, str]:
        if argv[:2] == ["sh", "-c"] and "etcdctl" in argv[2]:
            self.etcd.append(argv[2].split("--command-timeout=10s ", 1)[1])
            return 0, f"{self.order}\n"
        if argv[0] == "curl":
            self.looks += 1
            if self.looks == self.leads_after:
                self.roles["db1"], self.member_state["db1"] = "leader", "running"
        return super().exec(container, argv, user, detach, timeout)


def wait(driver: Restoring, timeout: float = 30.0) -> tuple[str, list[float]]:
    slept: list[float] = []
    stream = io.StringIO()
    restore_order.wait_while_restoring(driver, MEMBERS, Waiter(timeout, 1.0, sleep=slept.append,
                                                               clock=lambda: float(len(slept))),
                                       Progress(stream=stream))
    return stream.getvalue(), slept


def test_up_waits_until_the_restoring_node_leads() -> None:
    driver = Restoring(ORDER, leads_after=4)
    shown, slept = wait(driver)
    assert driver.roles["db1"] == "leader"
    assert driver.looks == 4
    assert len(slept) == 2  # the look before the wait, then three looks a second apart
    assert "a restore goes on in the cluster: waiting for db1 to lead before deploying" in shown


def test_a_restored_node_that_leads_already_is_not_waited_for() -> None:
    driver = Restoring(ORDER, leads_after=1)
    shown, slept = wait(driver)
    assert (driver.looks, slept, shown) == (1, [], "")


def test_without_an_order_up_asks_patroni_nothing() -> None:
    driver = Restoring("", leads_after=0)
    shown, slept = wait(driver)
    assert (driver.looks, slept, shown) == (0, [], "")
    assert driver.etcd == ["get --print-value-only /devsim/restore/devsim"]


def test_a_node_that_never_leads_stops_up_before_it_deploys() -> None:
    driver = Restoring(ORDER, leads_after=0)
    with pytest.raises(InfrastructureError) as caught:
        wait(driver, timeout=5.0)
    assert caught.value.one_line().startswith("db1 was still restoring after 5 s: `up` did not deploy")
    assert driver.roles["db1"] == "replica"


def test_devsim_up_waits_before_anything_else_touches_the_stack() -> None:
    driver = Restoring(ORDER, leads_after=3)
    settings = load_settings({}).replace(poll_interval=0.01)
    DevsimStack().before_up(driver, settings, Progress(stream=io.StringIO()))
    assert driver.roles["db1"] == "leader"
    assert driver.looks == 3
