"""A small HTTP server on 127.0.0.1 that plays the load balancer or Prometheus for unit
tests: each test scripts what it answers per (method, path) and reads what it was asked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    body: str = ""
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Script:
    """What the server answers: per (method, path) a list of answers, the last one repeated."""

    answers: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, body (or query)
    authorization: list[str] = field(default_factory=list)  # each request's Authorization header ("" if none)
    arrived: list[float] = field(default_factory=list)  # each request's time.monotonic() as it came
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, method: str, path: str, body: str) -> Answer:
        with self.lock:
            self.seen.append((method, path, body))
            self.arrived.append(time.monotonic())
            queue = self.answers.get((method, path))
            if not queue:
                return Answer(404, "not found")
            return queue.pop(0) if len(queue) > 1 else queue[0]


@dataclass
class Server:
    url: str
    script: Script


@dataclass
class Holder:
    script: Script = field(default_factory=Script)


@contextmanager
def serving() -> Iterator[tuple[str, Holder]]:
    """A server for as long as the block runs (stopping one costs half a second: share it);
    set `holder.script` to script it anew."""
    holder = Holder()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            parts = urlsplit(self.path)
            holder.script.authorization.append(self.headers.get("Authorization") or "")
            answer = holder.script.next(method, parts.path, body or parts.query)
            time.sleep(answer.delay_s)
            data = answer.body.encode()
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (a timeout test)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", holder
    finally:
        server.shutdown()
        server.server_close()


def send_json(handler: BaseHTTPRequestHandler, status: int, body: object) -> None:
    """A JSON answer from a test's own request handler."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
