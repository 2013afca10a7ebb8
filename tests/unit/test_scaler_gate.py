"""scaler-gate (target-stack/autoscaler/gate.py, issue #33): the one holder of the engine's
socket changes one service's replica count and nothing else. Here an engine stand-in answers
on a real unix socket and the gate on a real loopback port."""

from __future__ import annotations

import copy
import json
import socketserver
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.unit.httpstub import send_json
from tests.unit.scripts import load_script

gate = load_script("target-stack/autoscaler/gate.py", "devsim_gate")
NAME = "devsim_app"
SPEC: dict[str, Any] = {"Name": NAME, "Labels": {"devsim.stack": "devsim"},
        "TaskTemplate": {"ContainerSpec": {"Image": "devsim/app:v1", "User": "10001:10001",
                                           "Mounts": [{"Type": "tmpfs", "Target": "/tmp"}]}},
        "Mode": {"Replicated": {"Replicas": 3}}, "UpdateConfig": {"Parallelism": 1}}


class EngineState:
    def __init__(self) -> None:
        self.service: dict[str, Any] = {"ID": "abc", "Version": {"Index": 42}, "Spec": copy.deepcopy(SPEC)}
        self.updates: list[tuple[str, dict[str, Any]]] = []


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def engine_handler(state: EngineState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def address_string(self) -> str:
            return "engine"

        def _json(self, status: int, body: Any) -> None:
            send_json(self, status, body)

        def do_GET(self) -> None:
            if self.path == f"/v1.41/services/{NAME}":
                self._json(200, state.service)
            else:
                self._json(404, {"message": "no such service"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.updates.append((self.path, body))
            self._json(200, {"Warnings": None})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, EngineState]]:
    state = EngineState()
    sock = str(tmp_path / "docker.sock")
    engine = UnixHTTPServer(sock, engine_handler(state))
    front = ThreadingHTTPServer(("127.0.0.1", 0), gate.handler(gate.Engine(sock), NAME, 2, 6))
    for server in (engine, front):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{front.server_address[1]}", state
    for server in (engine, front):
        server.shutdown()
        server.server_close()


def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{url}/scale", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_scale_writes_back_the_spec_it_read_with_only_the_replicas_changed(served: tuple[str, EngineState]) -> None:
    url, state = served
    assert post(url, b'{"replicas": 5}') == (200, {"replicas": 5, "was": 3})
    [(path, body)] = state.updates
    assert path == f"/v1.41/services/{NAME}/update?version=42"  # under the version read: no lost update
    expected = copy.deepcopy(SPEC)
    expected["Mode"]["Replicated"]["Replicas"] = 5
    assert body == expected


@pytest.mark.parametrize(("asked", "set_to"), [(1, 2), (0, 2), (-4, 2), (99, 6), (6, 6)])
def test_the_count_is_clamped_to_the_bounds_given_at_start(served: tuple[str, EngineState], asked: int,
                                                           set_to: int) -> None:
    url, state = served
    assert post(url, json.dumps({"replicas": asked}).encode()) == (200, {"replicas": set_to, "was": 3})
    assert state.updates[0][1]["Mode"]["Replicated"]["Replicas"] == set_to


def test_the_same_count_writes_nothing(served: tuple[str, EngineState]) -> None:
    url, state = served
    assert post(url, b'{"replicas": 3}') == (200, {"replicas": 3, "was": 3})
    assert state.updates == []


@pytest.mark.parametrize("busy", ["updating", "rollback_started", "paused", "rollback_paused"])
def test_no_scale_while_a_rollout_runs_or_stopped_halfway(served: tuple[str, EngineState], busy: str) -> None:
    url, state = served
    state.service["UpdateStatus"] = {"State": busy}
    status, body = post(url, b'{"replicas": 5}')
    assert status == 409
    assert body["error"].startswith(f"the service is {busy.replace('_', ' ')}")
    assert state.updates == []


@pytest.mark.parametrize("body", [b"", b"nonsense", b"[5]", b'{"replicas": "5"}', b'{"replicas": 5.5}',
                                  b'{"replicas": true}', b'{"replicas": 5, "Spec": {"TaskTemplate": {}}}',
                                  b'{"Mode": {"Replicated": {"Replicas": 5}}}'])
def test_nothing_but_a_whole_replica_count_is_taken(served: tuple[str, EngineState], body: bytes) -> None:
    url, state = served
    status, _ = post(url, body)
    assert status == 400
    assert state.updates == []


def test_only_scale_and_health_are_served(served: tuple[str, EngineState]) -> None:
    url, state = served
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(urllib.request.Request(f"{url}/services/{NAME}/update", data=b"{}", method="POST"),
                               timeout=5)
    assert caught.value.code == 404
    with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
        assert json.loads(answer.read()) == {"service": NAME, "min": 2, "max": 6}
    assert state.updates == []


def test_the_state_says_the_count_and_whether_a_rollout_runs(served: tuple[str, EngineState]) -> None:
    url, state = served
    with urllib.request.urlopen(f"{url}/state", timeout=5) as answer:
        assert json.loads(answer.read()) == {"replicas": 3, "updating": False, "update_state": ""}
    state.service["UpdateStatus"] = {"State": "rollback_started"}
    with urllib.request.urlopen(f"{url}/state", timeout=5) as answer:
        assert json.loads(answer.read()) == {"replicas": 3, "updating": True, "update_state": "rollback_started"}
