"""Shared plumbing of the extension: the stack named by the experiment's configuration."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaoslib.exceptions import ActivityFailed

from harness.stack import engine

DEFAULTS = {
    "devsim_stack": "devsim",
    "lb_url": "http://127.0.0.1:8080",
    "prometheus_url": "http://127.0.0.1:9090",
    "request_log": "",
}


@dataclass(frozen=True)
class Target:
    """What an activity acts on, read from the experiment's configuration."""

    stack: str
    lb_url: str
    prometheus_url: str
    request_log: str

    @property
    def label(self) -> str:
        return f"devsim.stack={self.stack}"


def target(configuration: Mapping[str, Any] | None) -> Target:
    given = {k: v for k, v in (configuration or {}).items() if v not in (None, "")}
    config = {**DEFAULTS, **given}
    return Target(str(config["devsim_stack"]), str(config["lb_url"]).rstrip("/"),
                  str(config["prometheus_url"]).rstrip("/"), str(config.get("request_log") or ""))


_client: Any = None


def docker() -> Any:
    global _client
    if _client is None:
        try:
            _client = engine.connect()
        except Exception as exc:
            raise ActivityFailed(str(exc)) from exc
    return _client


def service(t: Target, name: str) -> Any:
    """The Swarm service `name` of the stack; refuses anything without the stack's label."""
    found = [s for s in docker().services.list(filters={"label": t.label})
             if s.name in (f"{t.stack}_{name}", name)]
    if not found:
        raise ActivityFailed(f"the stack {t.stack!r} has no service {name!r}")
    return found[0]


def containers(t: Target, name: str, running_only: bool = True) -> list[Any]:
    """The task containers of a service on this node, newest first."""
    svc = service(t, name)
    flt: dict[str, Any] = {"label": [t.label, f"com.docker.swarm.service.id={svc.id}"]}
    if running_only:
        flt["status"] = "running"
    found = docker().containers.list(all=not running_only, filters=flt)
    return sorted(found, key=lambda c: c.attrs.get("Created", ""), reverse=True)


def pick(items: list[Any], count: int, seed: int | None = None) -> list[Any]:
    if count < 1:
        raise ActivityFailed(f"count must be at least 1, got {count}")
    if len(items) < count:
        raise ActivityFailed(f"asked for {count} containers, only {len(items)} are running")
    return random.Random(seed).sample(items, count)


def cli(*argv: str, timeout: float = 120) -> str:
    """One external command (argv list); failures become ActivityFailed with its stderr."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ActivityFailed(f"`{' '.join(argv)}` failed: {exc}") from exc
    if done.returncode != 0:
        raise ActivityFailed(f"`{' '.join(argv)}` exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return done.stdout


def pid_of(container: Any) -> int:
    container.reload()
    pid = int(container.attrs["State"]["Pid"])
    if pid <= 0:
        raise ActivityFailed(f"container {container.name} is not running")
    return pid
