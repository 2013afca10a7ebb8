"""scaler-gate: the only holder of the engine's socket in the stack, and the only thing it does
with it is change one service's replica count (docs/stack/autoscaling.md).

    POST /scale {"replicas": N}  -> 200 {"replicas": <set>, "was": <before>}
                                    409 while an update or rollback runs
                                    400 for anything but a whole number
    GET /state                   -> 200 {"replicas": N, "updating": bool, "update_state": "..."}
    GET /health                  -> 200

The body is never passed to the engine: the gate reads the service, changes
`Mode.Replicated.Replicas` in the spec it read, and writes that back under the version it read
(the engine refuses a write over a newer one). The count is clamped to [MIN, MAX] given at
start. Stdlib only (Debian's python3).

Environment: SERVICE (the full service name), MIN, MAX, PORT (8090), DOCKER_SOCKET
(/var/run/docker.sock).
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import socket
import sys
from http.server import BaseHTTPRequestHandler
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quiet import QuietServer

API = "/v1.41"
BUSY = ("updating", "rollback_started", "paused", "rollback_paused")  # no scale over a rollout, nor a stopped one


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def wanted(body: bytes) -> int:
    """The replica count a request asks for; Refused(400) for anything else."""
    try:
        found = json.loads(body or b"null")
    except ValueError:
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(found, dict) or set(found) != {"replicas"}:
        raise Refused(400, 'the body must be {"replicas": N} and nothing else')
    replicas = found["replicas"]
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise Refused(400, "replicas must be a whole number")
    return replicas


def scaled(service: dict[str, Any], replicas: int, minimum: int, maximum: int) -> tuple[dict[str, Any], int, int]:
    """(the spec to write back, the version it was read at, the count set) for `service` as the
    engine answers GET /services/{id}; Refused(409) while it is being updated."""
    state = (service.get("UpdateStatus") or {}).get("State", "")
    if state in BUSY:
        raise Refused(409, f"the service is {state.replace('_', ' ')}: no scaling until it ends")
    spec = copy.deepcopy(service["Spec"])
    mode = spec.get("Mode") or {}
    if "Replicated" not in mode:
        raise Refused(409, "the service is not replicated")
    count = max(minimum, min(maximum, replicas))
    spec["Mode"]["Replicated"]["Replicas"] = count
    return spec, int(service["Version"]["Index"]), count


class Engine:
    """The engine's API over its unix socket."""

    def __init__(self, path: str) -> None:
        self.path = path

    def call(self, method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("localhost", timeout=10)
        conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.sock.settimeout(10)
        conn.sock.connect(self.path)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, API + url, body=data, headers={"Content-Type": "application/json"})
            answer = conn.getresponse()
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
        finally:
            conn.close()


def state(engine: Engine, name: str) -> dict[str, Any]:
    """The service's replica count and whether a rollout runs (or stopped halfway)."""
    status, service = engine.call("GET", f"/services/{name}")
    if status != 200:
        raise Refused(502, f"the engine answered {status} for {name}")
    update = (service.get("UpdateStatus") or {}).get("State", "")
    return {"replicas": int(service["Spec"]["Mode"]["Replicated"]["Replicas"]), "updating": update in BUSY,
            "update_state": update}


def scale(engine: Engine, name: str, replicas: int, minimum: int, maximum: int) -> dict[str, int]:
    status, service = engine.call("GET", f"/services/{name}")
    if status != 200:
        raise Refused(502, f"the engine answered {status} for {name}")
    spec, version, count = scaled(service, replicas, minimum, maximum)
    was = int(service["Spec"]["Mode"]["Replicated"]["Replicas"])
    if count != was:
        status, answer = engine.call("POST", f"/services/{name}/update?version={version}", spec)
        if status != 200:
            raise Refused(409 if status == 409 else 502, f"the engine refused the update ({status}): {answer}")
    return {"replicas": count, "was": was}


def handler(engine: Engine, name: str, minimum: int, maximum: int) -> type[BaseHTTPRequestHandler]:
    class Gate(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(200, {"service": name, "min": minimum, "max": maximum})
            elif self.path == "/state":
                try:
                    self._answer(200, state(engine, name))
                except (Refused, OSError) as exc:
                    self._answer(502, {"error": str(exc)})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path != "/scale":
                self._answer(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                if length > 1024:
                    raise Refused(413, "the body is over 1 kB")
                self._answer(200, scale(engine, name, wanted(self.rfile.read(length)), minimum, maximum))
            except Refused as exc:
                self._answer(exc.status, {"error": str(exc)})

        def log_message(self, format: str, *args: Any) -> None:
            sys.stdout.write(f"scaler-gate: {self.address_string()} {format % args}\n")
            sys.stdout.flush()

    return Gate


def main() -> None:
    name, minimum, maximum = os.environ["SERVICE"], int(os.environ["MIN"]), int(os.environ["MAX"])
    if not 1 <= minimum <= maximum:
        sys.exit(f"scaler-gate: the bounds must be 1 <= MIN <= MAX, got {minimum}, {maximum}")
    engine = Engine(os.environ.get("DOCKER_SOCKET", "/var/run/docker.sock"))
    server = QuietServer(("0.0.0.0", int(os.environ.get("PORT", "8090"))),
                                 handler(engine, name, minimum, maximum))
    server.serve_forever()


if __name__ == "__main__":
    main()
