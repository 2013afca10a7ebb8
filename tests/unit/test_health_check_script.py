"""target-stack/shared/devsim-health, the stack's Docker health check, run with the real bash
against real listeners on loopback: a plain check until the first success, then a watch that
exits at the first failure."""

from __future__ import annotations

import os
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "target-stack" / "shared" / "devsim-health"


class Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), Answer)
    server.status = 200  # type: ignore[attr-defined]
    server.paths = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def run(tmp_path: Path, *args: str, watch: float = 2, poll: float = 0.2) -> tuple[int, str, float]:
    env = {**os.environ, "DEVSIM_HEALTH_STATE": str(tmp_path / "seen"), "DEVSIM_HEALTH_WATCH": str(watch),
           "DEVSIM_HEALTH_POLL": str(poll)}
    started = time.monotonic()
    done = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30,
                          check=False)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def test_until_the_first_success_a_run_probes_once_and_exits(http: HTTPServer, tmp_path: Path) -> None:
    http.status = 503  # type: ignore[attr-defined]
    code, output, took = run(tmp_path, "http", str(http.server_port), "/health")
    assert (code, took < 1) == (1, True)
    assert "answered: HTTP/1.0 503" in output
    assert not (tmp_path / "seen").exists()
    http.status = 200  # type: ignore[attr-defined]
    code, output, took = run(tmp_path, "http", str(http.server_port), "/health")
    assert (code, output.strip(), took < 1) == (0, "healthy", True)
    assert http.paths == ["/health", "/health"]  # type: ignore[attr-defined]
    assert (tmp_path / "seen").exists()


def test_after_it_a_run_watches_for_the_whole_watch_while_healthy(http: HTTPServer, tmp_path: Path) -> None:
    (tmp_path / "seen").touch()
    code, output, took = run(tmp_path, "http", str(http.server_port), "/ready", watch=2, poll=0.2)
    assert (code, output.strip()) == (0, "healthy for 2s")
    assert 1.0 <= took < 4  # bash's SECONDS counts whole seconds: the watch ends between 1 and 2 s
    assert len(http.paths) >= 5  # type: ignore[attr-defined]  # about every 0.2 s


def test_a_watch_exits_at_the_first_failure_not_at_its_end(http: HTTPServer, tmp_path: Path) -> None:
    (tmp_path / "seen").touch()
    threading.Timer(1.0, lambda: setattr(http, "status", 500)).start()
    code, output, took = run(tmp_path, "http", str(http.server_port), "/health", watch=20, poll=0.2)
    assert code == 1
    assert "answered: HTTP/1.0 500" in output
    assert 0.9 < took < 2.5  # failed at about 1 s, seen within a poll; the watch was 20 s


def test_nothing_listening_is_a_failure_that_says_so(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connect is refused
        code, output, took = run(tmp_path, "tcp", str(port))
    assert (code, took < 1) == (1, True)
    assert f"nothing accepts on port {port}" in output


@pytest.mark.parametrize(("reply", "expected"), [(b"+PONG\r\n", 0), (b"-NOAUTH Authentication required.\r\n", 0),
                                                 (b"-LOADING Redis is loading\r\n", 1)])
def test_redis_is_alive_when_it_answers_pong_or_asks_for_its_password(tmp_path: Path, reply: bytes,
                                                                       expected: int) -> None:
    class Redis(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            if self.request.recv(64).startswith(b"PING"):
                self.request.sendall(reply)

    with socketserver.TCPServer(("127.0.0.1", 0), Redis) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        code, output, _ = run(tmp_path, "redis", str(server.server_address[1]))
        server.shutdown()
    assert code == expected, output
