"""Published ports that answer on loopback only.

Swarm publishes a host-mode port on every address of the host (0.0.0.0 and [::]) and has no
option to bind it to one. So the stack's ports are fenced in the kernel instead: a chain of
its own in the `raw` table, jumped to from PREROUTING for packets that arrive on any
interface but `lo` for an address of this host, drops the opening SYN of a TCP connection to
one of the stack's published ports, before Docker's DNAT or its userland proxy sees it.
IPv4 and IPv6 alike (Docker's proxy listens on both). VXLAN (UDP 4789), Swarm's overlay data
path, is dropped the same way. Replies (SYN-ACK) and traffic between
containers never match. The chain is named after the stack and carries its label as a
comment, so `down` removes exactly what `up` added; nothing else in the tables is touched.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path

from harness.driver import commands
from harness.errors import CommandFailed, InfrastructureError

IPV6_ENABLED = Path("/proc/net/if_inet6")
TABLE = ["-w", "-t", "raw"]
VXLAN_PORT = 4789


def chain(stack: str) -> str:
    """The stack's chain: at most 28 characters whatever the stack's name."""
    return "DEVSIM-" + hashlib.sha1(stack.encode()).hexdigest()[:12].upper()


def _tools(installed_only: bool = False) -> list[str]:
    tools = ["iptables", "ip6tables"] if IPV6_ENABLED.exists() else ["iptables"]
    return [t for t in tools if shutil.which(t)] if installed_only else tools


def _jump(stack: str) -> list[str]:
    return ["PREROUTING", "!", "-i", "lo", "-m", "addrtype", "--dst-type", "LOCAL",
            "-m", "comment", "--comment", f"devsim.stack={stack}", "-j", chain(stack)]


def _ok(argv: list[str]) -> bool:
    try:
        commands.run(argv, timeout=30)
    except CommandFailed:
        return False
    return True


def fence(stack: str, ports: Sequence[int]) -> None:
    """Drops new TCP connections to `ports` that do not come over loopback (idempotent: the
    chain is rewritten with exactly these ports)."""
    name = chain(stack)
    for tool in _tools():
        try:
            if not _ok([tool, *TABLE, "-n", "-L", name]):
                commands.run([tool, *TABLE, "-N", name], timeout=30)
            commands.run([tool, *TABLE, "-F", name], timeout=30)
            commands.run([tool, *TABLE, "-A", name, "-p", "tcp", "--syn", "-m", "multiport",
                          "--dports", ",".join(str(p) for p in sorted(set(ports))), "-j", "DROP"], timeout=30)
            # Swarm's overlay data path (VXLAN) listens on 0.0.0.0:4789 whatever --data-path-addr
            # says: a one-node swarm expects none of it from outside, and it would reach the
            # stack's networks.
            commands.run([tool, *TABLE, "-A", name, "-p", "udp", "--dport", str(VXLAN_PORT), "-j", "DROP"],
                         timeout=30)
            if not _ok([tool, *TABLE, "-C", *_jump(stack)]):
                commands.run([tool, *TABLE, "-I", *_jump(stack)], timeout=30)
        except CommandFailed as exc:
            raise InfrastructureError(
                f"cannot keep the published ports loopback-only ({tool}): {exc.one_line()}",
                hint="run as root with iptables installed, or set DEVSIM_BIND=0.0.0.0 to publish them "
                     "on every interface") from exc


def unfence(stack: str) -> None:
    """Removes the stack's chain and its jump; fine when there is none."""
    name = chain(stack)
    for tool in _tools(installed_only=True):  # no iptables: nothing was fenced with it
        while _ok([tool, *TABLE, "-D", *_jump(stack)]):
            pass
        if _ok([tool, *TABLE, "-n", "-L", name]):
            commands.run([tool, *TABLE, "-F", name], timeout=30)
            commands.run([tool, *TABLE, "-X", name], timeout=30)


def fenced(stack: str) -> dict[str, list[int]]:
    """{tool: ports dropped off loopback} as the kernel holds them now (empty when unfenced)."""
    found: dict[str, list[int]] = {}
    for tool in _tools(installed_only=True):
        if not _ok([tool, *TABLE, "-C", *_jump(stack)]):
            continue
        rules = commands.run([tool, *TABLE, "-S", chain(stack)], timeout=30).stdout
        ports = [int(p) for line in rules.splitlines() if "--dports" in line
                 for p in line.split("--dports", 1)[1].split()[0].split(",")]
        found[tool] = sorted(ports)
    return found
