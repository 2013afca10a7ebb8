"""The stack's published ports answer on loopback only (Swarm publishes them on every address;
`devsim up` fences them). Shown from outside the host's loopback: a network namespace this
test creates, joined to the host by a veth pair (host end 10.254.214.1 and fd00:214::1);
every probe aims only at the pair's host end. The control publishes on every interface
(DEVSIM_BIND=0.0.0.0) and must see the same probe answered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from harness.config import Settings
from tests.integration.conftest import devsim, explain

pytestmark = pytest.mark.docker

OUTSIDE = f"dsp-out-{os.getpid()}"
HOST_END, OUT_END = "dsph0", "dspo0"
HOST4, HOST6 = "10.254.214.1", "fd00:214::1"

PROBE = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    c = socket.create_connection((host, port), timeout=2)
except socket.timeout:
    sys.exit(print("timed out"))
except OSError as exc:
    sys.exit(print(type(exc).__name__))
try:  # connected: what the server says first (HTTP), or that it waits for more (TLS, others)
    c.sendall(b"GET /health HTTP/1.0\\r\\n\\r\\n" if port == int(sys.argv[3]) else b"")
    print(c.recv(12).decode(errors="replace").strip() or "connected")
except socket.timeout:
    print("connected")
"""


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def probe(host: str, port: int, lb_port: int) -> str:
    return run("ip", "netns", "exec", OUTSIDE, sys.executable, "-c", PROBE, host, str(port), str(lb_port))


@pytest.fixture(scope="module")
def outside() -> Iterator[None]:
    run("ip", "netns", "add", OUTSIDE)
    try:
        run("ip", "link", "add", HOST_END, "type", "veth", "peer", "name", OUT_END, "netns", OUTSIDE)
        run("ip", "addr", "add", f"{HOST4}/30", "dev", HOST_END)
        run("ip", "-6", "addr", "add", f"{HOST6}/64", "dev", HOST_END, "nodad")
        run("ip", "link", "set", HOST_END, "up")
        for cmd in (["addr", "add", "10.254.214.2/30", "dev", OUT_END],
                    ["-6", "addr", "add", "fd00:214::2/64", "dev", OUT_END, "nodad"],
                    ["link", "set", OUT_END, "up"], ["link", "set", "lo", "up"]):
            run("ip", "netns", "exec", OUTSIDE, "ip", *cmd)
        yield
    finally:
        subprocess.run(["ip", "link", "del", HOST_END], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", OUTSIDE], check=False)


def fenced() -> dict[str, list[int]]:
    done = devsim("status", "--json")
    assert done.returncode == 0, explain(done)
    return json.loads(done.stdout)["ports_fenced"]  # type: ignore[no-any-return]


def test_published_ports_answer_on_loopback_only(stack: Settings, outside: None) -> None:
    ports = stack.published_ports
    assert requests.get(f"{stack.lb_url}/health", timeout=5).status_code == 200
    assert {port: probe(HOST4, port, stack.lb_port) for port in ports} == {port: "timed out" for port in ports}
    assert probe(HOST6, stack.lb_port, stack.lb_port) == "timed out"
    assert fenced()["iptables"] == sorted(ports)

    opened = devsim("up", env={"DEVSIM_BIND": "0.0.0.0"})
    try:
        assert opened.returncode == 0, explain(opened)
        assert "answer on every interface" in opened.stderr
        # plain HTTP answers with its redirect to HTTPS; the HTTPS port takes a connection
        assert probe(HOST4, stack.lb_port, stack.lb_port) == "HTTP/1.1 308", "the control must reach the port"
        assert probe(HOST6, stack.lb_port, stack.lb_port) == "HTTP/1.1 308"
        assert probe(HOST4, stack.lb_tls_port, stack.lb_port) == "connected"
        assert fenced() == {}
    finally:
        closed = devsim("up")
    assert closed.returncode == 0, explain(closed)
    assert probe(HOST4, stack.lb_port, stack.lb_port) == "timed out"
    assert requests.get(f"{stack.lb_url}/health", timeout=5).status_code == 200
