"""The load's Locust master waits for every worker's final report before it quits (Locust's
own quit gives them half a second; on two busy cores a worker's came later, and the master's
totals missed the worker's last requests). Run in a child process: importing Locust patches
the interpreter with gevent."""

from __future__ import annotations

import json
import subprocess
import sys

from harness.config import PROJECT_ROOT

SCRIPT = r"""
import importlib.util, json, sys, time
import gevent
spec = importlib.util.spec_from_file_location("lf", sys.argv[1])
lf = importlib.util.module_from_spec(spec); spec.loader.exec_module(lf)
quits_after = json.loads(sys.argv[2])  # worker id -> seconds until its quit reaches the master (null: never)
events = []
start = time.monotonic()

class Node:
    def __init__(self, id): self.id = id

class Clients(dict):
    @property
    def all(self): return list(self.values())

class Server:
    def send_to_client(self, msg):
        events.append([round(time.monotonic() - start, 2), msg.type, msg.node_id])
        if quits_after[msg.node_id] is not None:
            gevent.spawn(quit_later, msg.node_id, quits_after[msg.node_id])

def quit_later(node, seconds):  # by the wall clock: gevent's timers use the loop's cached time
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        gevent.sleep(0.02)
    runner.clients.pop(node)

class Greenlet:
    def kill(self, block):
        events.append([round(time.monotonic() - start, 2), "killed", [sorted(runner.clients)]])

class Environment:
    parsed_options = None  # no --csv files to wait for

class Runner:
    environment = Environment()
    clients = Clients({k: Node(k) for k in quits_after})
    server, greenlet = Server(), Greenlet()
    def stop(self, send_stop_to_client=True):
        events.append([round(time.monotonic() - start, 2), "stop", send_stop_to_client])

runner = Runner()
lf._quit_after_the_workers(runner, grace=float(sys.argv[3]))()
print(json.dumps(events))
"""


def quit_with(quits_after: dict[str, float | None], grace: float) -> list[list[object]]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(PROJECT_ROOT / "loadtests" / "locustfile.py"),
                           json.dumps(quits_after), str(grace)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_master_quits_once_the_slowest_worker_has_quit_not_after_half_a_second() -> None:
    events = quit_with({"w1": 0.2, "w2": 1.5}, grace=10)
    assert [e[1:] for e in events[:3]] == [["stop", False], ["quit", "w1"], ["quit", "w2"]]
    killed = events[-1]
    assert killed[1:] == ["killed", [[]]]  # every worker had quit by then
    assert 1.5 <= float(killed[0]) < 3.0  # type: ignore[arg-type]


def test_a_worker_that_never_quits_holds_the_master_only_for_the_grace() -> None:
    events = quit_with({"w1": 0.1, "w2": None}, grace=2)
    killed = events[-1]
    assert killed[1:] == ["killed", [["w2"]]]
    assert 2.0 <= float(killed[0]) < 4.0  # type: ignore[arg-type]
