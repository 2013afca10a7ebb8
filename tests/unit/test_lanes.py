"""The suite's two lanes (tests/conftest.py): which module runs on which stack, and the
scheduler that hands each worker its lane in collection order."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from harness.config import PROJECT_ROOT
from tests import conftest as lanes


def test_lane_one_names_integration_modules_that_exist() -> None:
    present = {p.name for p in (PROJECT_ROOT / "tests" / "integration").glob("test_*.py")}
    assert present >= lanes.LANE_1
    assert lanes.lane_of("tests/integration/test_backups.py::test_x[a::b]") == 1
    assert lanes.lane_of("tests/integration/test_chaos.py::test_x") == 0
    assert lanes.lane_of("tests/unit/test_backups.py::test_x") == 1  # by file name, wherever it lies
    assert lanes.lane_of("tests/unit/test_docs.py::test_x") == 0


def test_lane_one_has_its_own_stack_and_ports() -> None:
    env = lanes.LANE_ENV[1]
    assert env["DEVSIM_STACK"] not in ("", "devsim")
    ports = [int(v) for k, v in env.items() if k.endswith("_PORT")]
    assert len(ports) == 5
    assert not set(ports) & {8080, 8443, 9090, 9091, 8025, 18080, 18443, 19090, 19091, 18025}
    assert lanes.LANE_ENV[0] == {}


@dataclass
class FakeNode:
    gateway: SimpleNamespace
    sent: list[list[int]] = field(default_factory=list)
    down: bool = False
    shutting_down: bool = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.append(indices)

    def shutdown(self) -> None:
        self.down = True

    def __hash__(self) -> int:
        return id(self)


def test_each_worker_gets_its_lane_in_collection_order_then_stops() -> None:
    config = SimpleNamespace(getvalue=lambda name: ["2*popen"] if name == "tx" else None)
    sched = lanes.Lanes(config)  # type: ignore[arg-type]
    one, zero = FakeNode(SimpleNamespace(id="gw1")), FakeNode(SimpleNamespace(id="gw0"))
    collection = ["tests/integration/test_chaos.py::a", "tests/integration/test_backups.py::b",
                  "tests/unit/test_x.py::c", "tests/integration/test_deploy.py::d",
                  "tests/integration/test_chaos.py::e"]
    for node in (one, zero):
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    sched.schedule()
    assert zero.sent == [[0, 2, 4]]
    assert one.sent == [[1, 3]]
    assert zero.down
    assert one.down
    sched.mark_test_complete(one, 1)
    sched.mark_test_complete(one, 3)
    assert sched.has_pending  # lane 0's three are still out
    for i in (0, 2, 4):
        sched.mark_test_complete(zero, i)
    assert not sched.has_pending
    assert sched.tests_finished
