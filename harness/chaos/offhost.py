"""Whether the stack's published ports answer from outside the host's loopback (issue 16).

A probe cannot aim at the host's own network addresses (they lead off this machine's
network rules), so it makes an outside of its own: a network namespace joined to the host
by a veth pair, and connects from there to the pair's host end only, which is an address of
the host like any other. Everything it makes is removed again, however the probe ends.
Needs root and `ip` (iproute2), as the harness's network faults do.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

from chaoslib.types import Configuration

from harness.chaos import engine
from harness.chaos.engine import activity
from harness.errors import InfrastructureError

__all__ = ["ports_answering_off_loopback"]

HOST4, OUTSIDE4 = "10.254.215.1", "10.254.215.2"

# Run inside the namespace: "connected" or why not, per port, in the order given; every port
# at once (a dropped one waits out its 2 s).
CONNECT = """
import socket, sys
from concurrent.futures import ThreadPoolExecutor
def attempt(port):
    try:
        socket.create_connection((sys.argv[1], int(port)), timeout=2).close()
        return port + " connected"
    except socket.timeout:
        return port + " timed out"
    except OSError as exc:
        return port + " " + type(exc).__name__
with ThreadPoolExecutor(max_workers=len(sys.argv) - 2) as pool:
    print("\\n".join(pool.map(attempt, sys.argv[2:])))
"""


def _ip(*argv: str) -> None:
    done = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise InfrastructureError(f"ip {' '.join(argv)} failed: {done.stderr.strip()[-200:]}")


@contextlib.contextmanager
def outside() -> Iterator[str]:
    """A network namespace joined to the host by a veth pair; yields its name."""
    name = f"devsim-out-{os.getpid()}"
    host_end, out_end = f"dvo{os.getpid() % 100000}h", f"dvo{os.getpid() % 100000}o"
    _ip("netns", "add", name)
    try:
        _ip("link", "add", host_end, "type", "veth", "peer", "name", out_end, "netns", name)
        _ip("addr", "add", f"{HOST4}/30", "dev", host_end)
        _ip("link", "set", host_end, "up")
        for cmd in (["addr", "add", f"{OUTSIDE4}/30", "dev", out_end], ["link", "set", out_end, "up"],
                    ["link", "set", "lo", "up"]):
            _ip("netns", "exec", name, "ip", *cmd)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True, check=False, timeout=30)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False, timeout=30)


@activity
def ports_answering_off_loopback(configuration: Configuration = None) -> str:
    """The published ports that take a connection from outside the host's loopback: "none",
    or "PORT, PORT, ..." that connected. Its own control: a listener of the probe's, on every
    address, must be reached the same way, or the probe fails rather than say "none"."""
    ports = engine.settings(configuration).published_ports
    with socket.create_server(("0.0.0.0", 0)) as control, outside() as name:
        control_port = str(control.getsockname()[1])
        done = subprocess.run(["ip", "netns", "exec", name, sys.executable, "-c", CONNECT, HOST4, control_port,
                               *map(str, ports)], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise InfrastructureError(f"the probe from outside failed: {done.stderr.strip()[-200:]}")
    answered = [line.split()[0] for line in done.stdout.splitlines() if line.endswith(" connected")]
    if control_port not in answered:
        raise InfrastructureError("the probe's own listener did not answer from outside: it cannot see an open port")
    return ", ".join(p for p in answered if p != control_port) or "none"
