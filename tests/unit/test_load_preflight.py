"""`devsim load`'s preflight against a real HTTP server on 127.0.0.1 that plays the load
balancer: a 503 for a moment is waited out, a 503 that lasts is refused with its code."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.config import Settings
from harness.errors import InfrastructureError
from harness.http import Http
from harness.load.session import preflight
from harness.stack.waiting import Waiter


class FakeBalancer(ThreadingHTTPServer):
    def __init__(self, unhealthy_answers: int) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.unhealthy_answers = unhealthy_answers
        self.health_requests = 0


class Handler(BaseHTTPRequestHandler):
    server: FakeBalancer

    def do_GET(self) -> None:
        if self.path == "/health":
            self.server.health_requests += 1
            code = 503 if self.server.health_requests <= self.server.unhealthy_answers else 200
        else:  # the Pushgateway's /-/ready
            code = 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def serve(unhealthy_answers: int) -> Iterator[tuple[FakeBalancer, Settings]]:
    server = FakeBalancer(unhealthy_answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield server, Settings(lb_port=port, pushgateway_port=port, tls=False)  # a plain fake balancer
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def flapping() -> Iterator[tuple[FakeBalancer, Settings]]:
    yield from serve(unhealthy_answers=3)


@pytest.fixture
def down_for_good() -> Iterator[tuple[FakeBalancer, Settings]]:
    yield from serve(unhealthy_answers=10**6)


def test_a_moment_of_503_is_waited_out(flapping: tuple[FakeBalancer, Settings]) -> None:
    server, settings = flapping
    url = preflight(settings, Http(None), waiter=Waiter(timeout=5, interval=0.01))
    assert url == settings.pushgateway_url
    assert server.health_requests == 4  # three 503s, then the 200


def test_a_lasting_503_is_refused_with_its_code(down_for_good: tuple[FakeBalancer, Settings]) -> None:
    server, settings = down_for_good
    with pytest.raises(InfrastructureError) as raised:
        preflight(settings, Http(None), waiter=Waiter(timeout=0.3, interval=0.05))
    assert str(raised.value).startswith(f"the target {settings.lb_url}/health answers 503, not 200")
    assert server.health_requests >= 2  # it asked again before giving up


def test_no_answer_at_all_is_refused_at_once() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        settings = Settings(lb_port=port, pushgateway_port=port, tls=False)
        waiter = Waiter(timeout=60, interval=10)
        with pytest.raises(InfrastructureError) as raised:
            preflight(settings, Http(None), waiter=waiter)
    assert str(raised.value) == f"the target {settings.lb_url} cannot be reached: 127.0.0.1:{port} refused the " \
        "connection (nothing listens there)"
