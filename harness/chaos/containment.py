"""Containment probes: whether each service is bounded, read back from its running
containers (what the engine applies, not what stack.yml asks for), and whether a bound
holds when a process inside pushes against it.

A fault or a compromise in one container should stop at that container: no capability, a
root filesystem it cannot change, memory, process and CPU limits, and logs that rotate
instead of filling the disk.
"""

from __future__ import annotations

from chaoslib.types import Configuration

from harness.chaos import engine
from harness.chaos.engine import activity
from harness.driver import ContainerInfo, Containment
from harness.errors import InfrastructureError

__all__ = ["engine_socket_holders", "memory_hog", "shared_users", "uncontained"]


def problems(found: Containment) -> list[str]:
    """What a container lacks of being contained; [] when it lacks nothing."""
    missing = []
    if "ALL" not in {c.upper() for c in found.cap_drop}:
        missing.append("capabilities not dropped")
    if found.cap_add:
        missing.append(f"capabilities added ({', '.join(found.cap_add)})")
    if not found.read_only:
        missing.append("root filesystem writable")
    if not found.memory:
        missing.append("no memory limit")
    if not found.pids:
        missing.append("no pids limit")
    if not found.nano_cpus:
        missing.append("no CPU limit")
    if not found.log_max_size:
        missing.append("logs not rotated")
    return missing


def _running(configuration: Configuration) -> list[ContainerInfo]:
    """The stack's running containers, its services' tasks and plain ones; none is an error."""
    running = [c for c in engine.driver(configuration).plain_containers({}) if c.status == "running"]
    if not running:
        raise InfrastructureError("the stack runs no container (is it up?)")
    return running


@activity
def uncontained(configuration: Configuration = None) -> str:
    """Every running container of the stack that lacks a bound: "none", or "<service>:
    <what it lacks>" for each, joined by "; "."""
    findings = {f"{c.service}: {', '.join(missing)}" for c in _running(configuration)
                if (missing := problems(c.containment))}
    return "; ".join(sorted(findings)) or "none"


ROOT = ("", "0", "root")  # "": the image names no user, so root


def sharing(users: dict[str, set[str]], one_role: list[list[str]]) -> list[str]:
    """From {service: users its running containers run as}, each user that runs services of
    more than one role, as "<user>: <services>", and each service run as root. Services named
    together in `one_role` (the replicas of one server) are one role."""
    role = {service: min(group) for group in one_role for service in group}
    by_user: dict[str, set[str]] = {}
    for service, found in users.items():
        for user in found:
            uid = user.split(":")[0]
            by_user.setdefault("root" if uid in ROOT else uid, set()).add(service)
    return [f"{user}: {', '.join(sorted(services))}" for user, services in sorted(by_user.items())
            if user == "root" or len({role.get(s, s) for s in services}) > 1]


@activity
def shared_users(one_role: list[list[str]] | None = None, configuration: Configuration = None) -> str:
    """Users (the uid, or the name an image gives) that the stack's running containers of
    more than one service run as, and services run as root: "none", or "<user>: <services>"
    for each, joined by "; ". `one_role`: groups of services that are one server replicated
    (they may share a user)."""
    users: dict[str, set[str]] = {}
    for c in _running(configuration):
        if not c.service:
            continue
        users.setdefault(c.service, set()).add(c.containment.user)
    return "; ".join(sharing(users, one_role or [])) or "none"


ENGINE_SOCKET = "/var/run/docker.sock"


@activity
def engine_socket_holders(configuration: Configuration = None) -> str:
    """The services whose running containers have the engine's socket (root on the host),
    comma-joined and sorted; "none" when no container has it."""
    holders = {c.service or c.name for c in _running(configuration)
               if any(b.rstrip("/") in (ENGINE_SOCKET, "/run/docker.sock") for b in c.containment.binds)}
    return ", ".join(sorted(holders)) or "none"


HOG_MIB = 1024  # the hog's own bound: without a limit it stops here, not at the host's memory
HOG = ("node", "-e", f"const held = []; for (let i = 0; i < {HOG_MIB}; i++) held.push(Buffer.alloc(1 << 20, 1)); "
       "console.log('unstopped');")


@activity
def memory_hog(service: str = "app", configuration: Configuration = None) -> str:
    """Runs a process that fills memory, 1 MiB at a time up to HOG_MIB, in the newest running
    task of `service` (its image must have node), and says how it ended: "killed at the limit
    (exit 137)" when the container's limit stopped it (the kernel kills the largest process
    in the container, the hog, and the task stays), "unstopped at 1024 MiB" when nothing did."""
    driver = engine.driver(configuration)
    containers = driver.containers(service)
    if not containers:
        raise InfrastructureError(f"{service} runs no container")
    code, out = driver.exec(containers[0], list(HOG))
    if code == 137:
        return "killed at the limit (exit 137)"
    if code == 0 and "unstopped" in out:
        return f"unstopped at {HOG_MIB} MiB"
    return f"ended with exit {code}: {out.strip()[-120:]}"
