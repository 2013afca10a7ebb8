"""Shared plumbing of the extension: the stack an experiment's configuration names, and the
driver that reaches it (one per stack and process)."""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from chaoslib.exceptions import ActivityFailed

from harness.config import Settings, load_settings
from harness.driver import StackDriver, driver_for
from harness.errors import HarnessError
from harness.http import Http

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Target:
    """What an activity acts on, read from the experiment's configuration."""

    stack: str
    lb_url: str
    prometheus_url: str
    request_log: str
    mailsink_url: str
    ca_file: str = ""  # the CA the edge's HTTPS is verified against ("": plain HTTP)


def for_settings(settings: Settings) -> dict[str, str]:
    """The configuration the extension reads for a stack's settings (no request log)."""
    return {"devsim_stack": settings.stack, "lb_url": settings.lb_url, "prometheus_url": settings.prometheus_url,
            "mailsink_url": settings.mailsink_url, "request_log": "",
            "devsim_ca_file": str(settings.edge_ca_file or "")}


def defaults() -> dict[str, str]:
    """What a plain `chaos run` uses for keys the configuration leaves out: the harness's
    own settings (DEVSIM_STACK, DEVSIM_LB_PORT, ... or their defaults)."""
    return for_settings(_from_environment())


def _from_environment() -> Settings:
    """The one place the extension reads the environment (DEVSIM_*): under a plain `chaos
    run` nothing else hands it settings."""
    return load_settings(os.environ)


_settings: dict[str, Settings] = {}


def settings(configuration: Mapping[str, Any] | None) -> Settings:
    """The harness's settings for the stack the configuration names: those `devsim run`
    handed in (`adopt`), else the environment's, for that stack."""
    stack = target(configuration).stack
    if stack in _settings:
        return _settings[stack]
    found = _from_environment()
    return found if found.stack == stack else found.replace(stack=stack)


def target(configuration: Mapping[str, Any] | None) -> Target:
    given = {k: v for k, v in (configuration or {}).items() if v not in (None, "")}
    missing = {"devsim_stack", "lb_url", "prometheus_url", "mailsink_url"} - set(given)
    config = {**(defaults() if missing else {}), **given}  # `devsim run` gives every key
    lb_url = str(config["lb_url"]).rstrip("/")
    ca_file = str(config.get("devsim_ca_file") or "")
    if not ca_file and lb_url.startswith("https:"):  # a plain `chaos run` naming its own lb_url
        ca_file = str(_from_environment().ca_file)
    return Target(str(config["devsim_stack"]), lb_url, str(config["prometheus_url"]).rstrip("/"),
                  str(config.get("request_log") or ""), str(config["mailsink_url"]).rstrip("/"), ca_file)


_drivers: dict[str, StackDriver] = {}
_sessions: dict[str, Http] = {}
_factory: Callable[[str], StackDriver] = driver_for


def use_factory(factory: Callable[[str], StackDriver]) -> None:
    """Where drivers come from (the unit tests hand in a fake engine); forgets the ones made."""
    global _factory
    _factory = factory
    _drivers.clear()


def adopt(driver: StackDriver, settings: Settings | None = None) -> None:
    """Makes `driver` (and `settings`) the ones the activities use for its stack (`devsim run`
    hands in its own)."""
    _drivers[driver.stack] = driver
    if settings is not None:
        _settings[settings.stack] = settings


def driver(configuration: Mapping[str, Any] | None) -> StackDriver:
    """The driver of the stack the configuration names, made once per stack and process."""
    stack = target(configuration).stack
    if stack not in _drivers:
        _drivers[stack] = _factory(stack)
    return _drivers[stack]


def http(configuration: Mapping[str, Any] | None) -> Http:
    """The HTTP session of the stack the configuration names: HTTPS verified against the CA
    file the configuration names (`devsim run` gives its own; a plain `chaos run` the
    settings'), made once per CA file and process. Nothing process-wide is trusted."""
    ca_file = target(configuration).ca_file
    if ca_file not in _sessions:
        _sessions[ca_file] = Http(Path(ca_file) if ca_file else None)
    return _sessions[ca_file]


def activity(func: Callable[P, R]) -> Callable[P, R]:
    """An action or probe: the harness's errors reach Chaos Toolkit as ActivityFailed, one line."""
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except HarnessError as exc:
            raise ActivityFailed(exc.one_line()) from exc
    return wrapper


def timed_out(message: str, logs: list[str], lines: int = 5) -> ActivityFailed:
    """A wait that ran out, with the last log lines of what it waited for: Chaos Toolkit's
    journal keeps only the exception's message, so the log tail goes into it."""
    tail = " | ".join(line.strip() for line in logs[-lines:] if line.strip())
    return ActivityFailed(f"{message}; last log lines: {tail}" if tail else message)


def pick(items: list[R], count: int, seed: int | None = None) -> list[R]:
    if count < 1:
        raise ActivityFailed(f"count must be at least 1, got {count}")
    if len(items) < count:
        raise ActivityFailed(f"asked for {count} containers, only {len(items)} are running")
    return random.Random(seed).sample(items, count)
