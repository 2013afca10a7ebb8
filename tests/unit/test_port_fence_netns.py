"""The published-port fence in a real kernel, without Docker and without touching the host's
tables: two network namespaces this test creates, "host" and "outside", joined by a veth pair
(10.254.213.1 and .2, fd00:213::1 and ::2). A listener in "host" answers on every address
of port 18080 and 18081; the fence is applied inside "host" by the harness's own code.
Nothing is aimed at any address but the pair's and loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("iptables") is None,
                                reason="needs root, iproute2 and iptables (CI has them)")

HOST, OUTSIDE = f"dsf-host-{os.getpid()}", f"dsf-out-{os.getpid()}"
HOST4, HOST6 = "10.254.213.1", "fd00:213::1"
FENCED, OPEN = 18080, 18081

LISTENER = """
import socket, threading
def serve(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(b"ok"); c.close()
for p in ({FENCED}, {OPEN}):
    threading.Thread(target=serve, args=(p,), daemon=True).start()
print("listening", flush=True)
threading.Event().wait()
""".replace("{FENCED}", str(FENCED)).replace("{OPEN}", str(OPEN))

PROBE = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    c = socket.create_connection((host, port), timeout=1.5)
    print(c.recv(2).decode() or "closed")
except socket.timeout:
    print("timed out")
except OSError as exc:
    print(type(exc).__name__)
"""


def ns(name: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", name, *argv], capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()


def probe(name: str, host: str, port: int) -> str:
    return ns(name, sys.executable, "-c", PROBE, host, str(port))


def harness(call: str) -> str:
    """Runs the harness's fence code inside the "host" namespace."""
    return ns(HOST, sys.executable, "-c", f"from harness.driver import ports; print(ports.{call})")


@pytest.fixture(scope="module")
def pair() -> Iterator[None]:
    run = lambda *a: subprocess.run(["ip", *a], check=True, capture_output=True, timeout=30)  # noqa: E731
    run("netns", "add", HOST)
    run("netns", "add", OUTSIDE)
    listener = None
    try:
        run("link", "add", "dsfh0", "netns", HOST, "type", "veth", "peer", "name", "dsfo0", "netns", OUTSIDE)
        for name, dev, v4, v6 in ((HOST, "dsfh0", HOST4, HOST6), (OUTSIDE, "dsfo0", "10.254.213.2", "fd00:213::2")):
            ns(name, "ip", "addr", "add", f"{v4}/30", "dev", dev)
            ns(name, "ip", "-6", "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            ns(name, "ip", "link", "set", dev, "up")
            ns(name, "ip", "link", "set", "lo", "up")
        listener = subprocess.Popen(["ip", "netns", "exec", HOST, sys.executable, "-u", "-c", LISTENER],
                                    stdout=subprocess.PIPE, text=True)
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "listening"
        yield
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "netns", "del", HOST], check=False)
        subprocess.run(["ip", "netns", "del", OUTSIDE], check=False)


def test_fenced_port_answers_on_loopback_only(pair: None) -> None:
    assert probe(OUTSIDE, HOST4, FENCED) == "ok", "without the fence the outside must reach the port"
    harness(f"fence('devsim-t', [{FENCED}])")
    try:
        assert probe(OUTSIDE, HOST4, FENCED) == "timed out"
        assert probe(OUTSIDE, HOST6, FENCED) == "timed out"
        assert probe(OUTSIDE, HOST4, OPEN) == "ok", "only the fenced ports are dropped"
        assert probe(HOST, "127.0.0.1", FENCED) == "ok"
        assert probe(HOST, "::1", FENCED) == "ok"
        assert probe(HOST, HOST4, FENCED) == "ok", "the host itself reaches its own addresses over lo"
        assert harness("fenced('devsim-t')") == str({"iptables": [FENCED], "ip6tables": [FENCED]})
        harness(f"fence('devsim-t', [{FENCED}])")  # again: idempotent, one jump, one rule
        rules = ns(HOST, "iptables", "-t", "raw", "-S")
        assert rules.count("devsim.stack=devsim-t") == 1
        assert rules.count("--dports 18080") == 1
        assert rules.count("--dport 4789 -j DROP") == 1
    finally:
        harness("unfence('devsim-t')")
    assert harness("fenced('devsim-t')") == "{}"
    assert "DEVSIM" not in ns(HOST, "iptables", "-t", "raw", "-S")
    started = time.monotonic()
    assert probe(OUTSIDE, HOST4, FENCED) == "ok"
    assert time.monotonic() - started < 1.5
