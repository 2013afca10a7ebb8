"""Probes for the alerting path: an alert's state in Prometheus, and the on-call mailbox.

Latencies are measured from the start of the fault window (the control records it), so a
probe that runs after the fault's action still reports "seconds from the fault until ...".
The mailbox is the stack's mail sink, read over its published HTTP port on 127.0.0.1.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from harness.chaos import engine, runstate
from harness.chaos.evidence import Refuted
from harness.stack.waiting import Check, Waiter

__all__ = [
    "alert_state",
    "emails",
    "seconds_until_alert",
    "seconds_until_email",
]


def _mailsink(configuration: Configuration) -> str:
    return engine.target(configuration).mailsink_url


def alert_state(name: str, settle: float = 0, configuration: Configuration = None) -> str:
    """firing, pending or inactive: the state of a Prometheus alert, by alert name.

    With `settle` (seconds), a pending alert is read again every half second until it fires
    or clears, for at most that long: pending pages nobody, and a rule's `for` exists so that
    a flicker (one failed health check round on a busy machine) never does. "Is the alert
    quiet?" then answers what on-call would see. A pending that outlasts `settle` stays
    "pending".
    """
    state = _state(name, configuration)
    deadline = time.monotonic() + float(settle)
    while state == "pending" and time.monotonic() < deadline:
        time.sleep(0.5)
        state = _state(name, configuration)
    return state


def _state(name: str, configuration: Configuration) -> str:
    url = engine.target(configuration).prometheus_url + "/api/v1/alerts"
    try:
        alerts = engine.http(configuration).get(url, timeout=5).json()["data"]["alerts"]
    except requests.RequestException as exc:
        raise ActivityFailed(f"cannot read alerts: {engine.http(configuration).explain(exc, url, 5)}") from exc
    except (ValueError, KeyError) as exc:
        raise ActivityFailed(f"cannot read alerts from {url}: {exc}") from exc
    states = {a.get("state") for a in alerts if a.get("labels", {}).get("alertname") == name}
    return "firing" if "firing" in states else "pending" if "pending" in states else "inactive"


def seconds_until_alert(name: str, state: str = "firing", since: str | float = "fault", timeout: float = 90,
                        configuration: Configuration = None) -> float:
    """Seconds from `since` (the fault's start) until the alert is in `state` (firing, inactive)."""
    origin = runstate.origin(since)
    if Waiter(float(timeout), 0.5).until(lambda: Check(_state(name, configuration) == state, "")) is None:
        raise Refuted(f"alert {name} not {state} within {timeout:g} s", at_least=round(time.time() - origin, 2))
    return round(time.time() - origin, 2)


def emails(since: float = 0, configuration: Configuration = None) -> list[dict[str, Any]]:
    """The messages the mail sink received at or after `since` (seconds since the epoch)."""
    url = f"{_mailsink(configuration)}/messages"
    try:
        answer = engine.http(configuration).get(url, params={"since": since}, timeout=5)
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()
    except requests.RequestException as exc:
        raise ActivityFailed(f"cannot read the mailbox: {engine.http(configuration).explain(exc, url, 5)}") from exc
    except ValueError as exc:
        raise ActivityFailed(f"cannot read the mailbox at {url}: {exc}") from exc
    return found


def _matches(message: dict[str, Any], alertname: str, status: str) -> bool:
    named = alertname in message.get("alertnames", []) or alertname in str(message.get("subject", ""))
    return named and message.get("status") == status


def seconds_until_email(alertname: str, status: str = "firing", since: str | float = "fault",
                        timeout: float = 120, configuration: Configuration = None) -> float:
    """Seconds from `since` (the fault's start) until an email about `alertname` with `status`
    (firing or resolved) is in the mailbox; fails when none arrives within `timeout`."""
    origin = runstate.origin(since)
    found: list[dict[str, Any]] = []

    def arrived() -> Check:
        found[:] = [m for m in emails(origin, configuration) if _matches(m, alertname, status)]
        return Check(bool(found), "")

    if Waiter(float(timeout), 0.5).until(arrived) is None:
        raise Refuted(f"no {status} email about {alertname} within {timeout:g} s",
                      at_least=round(time.time() - origin, 2))
    return round(min(float(m["received"]) for m in found) - origin, 2)
