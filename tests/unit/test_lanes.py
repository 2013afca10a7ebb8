"""The suite's two lanes (tests/conftest.py): which module runs on which stack, and the
scheduler that hands each worker its lane in collection order."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from harness.config import PROJECT_ROOT, load_settings
from tests import conftest as lanes


def test_lane_one_names_integration_modules_that_exist() -> None:
    present = {p.name for p in (PROJECT_ROOT / "tests" / "integration").glob("test_*.py")}
    assert present >= lanes.LANE_1
    assert lanes.lane_of("tests/integration/test_backups.py::test_x[a::b]") == 1
    assert lanes.lane_of("tests/integration/test_chaos.py::test_x") == 0
    assert lanes.lane_of("tests/unit/test_backups.py::test_x") == 2  # a unit test of the same name: no stack
    assert lanes.lane_of("tests/unit/test_docs.py::test_x") == 2
    assert lanes.lane_of("tests/browser/test_report_in_chromium.py::test_x[a]") == 2


def test_lane_one_has_its_own_stack_and_ports() -> None:
    lane = load_settings(lanes.LANE_ENV[1])
    assert lane.stack not in ("", "devsim")
    assert lane.published_ports == (28080, 28443, 29090, 29091, 28025)  # neither the defaults nor 18xxx, 38xxx
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
    assert zero.sent == [[0, 2, 4]]  # two workers: the unit test folds onto lane 0, in its place
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


def test_three_workers_give_the_stackless_tests_a_lane_of_their_own() -> None:
    config = SimpleNamespace(getvalue=lambda name: ["3*popen"] if name == "tx" else None)
    sched = lanes.Lanes(config)  # type: ignore[arg-type]
    nodes = [FakeNode(SimpleNamespace(id=f"gw{i}")) for i in (2, 0, 1)]
    collection = ["tests/browser/test_b.py::z", "tests/integration/test_chaos.py::a",
                  "tests/integration/test_backups.py::b", "tests/unit/test_x.py::c",
                  "tests/integration/test_deploy.py::d", "tests/integration/test_chaos.py::e"]
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    sched.schedule()
    two, zero, one = nodes
    assert (zero.sent, one.sent, two.sent) == ([[1, 5]], [[2, 4]], [[0, 3]])


MARK = "@pytest.mark.alone\n"


def test_a_test_marked_alone_runs_while_the_other_lane_waits(tmp_path: Path) -> None:
    """Two lanes in a pytest of their own: lane 1 runs three tests of 1 s each, lane 0 one
    `alone` test of 1 s. No lane-1 test may overlap it."""
    shutil.copy(PROJECT_ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text('[pytest]\nmarkers =\n    alone: x\n')
    body = ("import time, pathlib, pytest\n"
            "def record(name):\n"
            "    start = time.time(); time.sleep(1)\n"
            "    with open(pathlib.Path(__file__).parent / 'spans', 'a') as f:\n"
            "        f.write(f'{name} {start} {time.time()}\\n')\n")
    modules = tmp_path / "tests" / "integration"  # where the lanes are told apart
    modules.mkdir(parents=True)
    body = body.replace("pathlib.Path(__file__).parent", "pathlib.Path(__file__).parents[2]")
    (modules / "test_alerts.py").write_text(body + "".join(f"def test_{i}(): record('other{i}')\n" for i in range(3)))
    (modules / "test_quiet.py").write_text(body + MARK + "def test_q(): time.sleep(0.5); record('alone')\n")
    env = {**os.environ, "DEVSIM_SUITE_LOCKS": str(tmp_path)}
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = (tmp_path / "spans").read_text().splitlines()
    spans = {n: (float(a), float(b)) for n, a, b in (line.split() for line in lines)}
    assert len(spans) == 4
    start, end = spans.pop("alone")
    assert all(b <= start or a >= end for a, b in spans.values()), spans
