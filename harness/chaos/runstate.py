"""What the control has seen of the running experiment: the fault window and whether the
harness drives the run.

The control (`harness.chaos.controls`) writes it; probes and the window resolution read it.
It is a module of its own so that the readers, below the claims, need not import the control,
which judges the claims after a plain `chaos run`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

_state: dict[str, Any] = {"in_method": False, "start": None, "end": None, "first_action_end": None,
                          "applied_at": None, "last_action_start": None}


_driver = {"harness": False}


def harness_drives(flag: bool) -> None:
    """`devsim run` says it runs the experiment (and judges it itself)."""
    _driver["harness"] = flag


def harness_driven() -> bool:
    return bool(_driver["harness"])


def method_started() -> None:
    _state["in_method"] = True


def method_ended() -> None:
    """The method is over; the fault window closes now if a fault was applied."""
    _state["in_method"] = False
    if _state["start"] is not None:
        _state["end"] = time.time()


def action_started() -> None:
    """An action of the method starts: the first one opens the fault window."""
    if _state["in_method"]:
        _state["last_action_start"] = time.time()
        if _state["start"] is None:
            _state["start"] = _state["last_action_start"]


def action_ended(applied_at: Callable[[float, float], float | None]) -> None:
    """An action of the method ended; the first one's end, and when it applied its fault
    (`applied_at(start, end)`, from the action's output), are kept."""
    if _state["in_method"] and _state["first_action_end"] is None and _state["start"] is not None:
        ended = time.time()
        _state["first_action_end"] = ended
        _state["applied_at"] = applied_at(float(_state["start"]), ended)


def reset() -> None:
    _state.update(in_method=False, start=None, end=None, first_action_end=None, applied_at=None,
                  last_action_start=None)


def last_action_start() -> float | None:
    """When the method's latest action started (e.g. the one that brought a service back)."""
    return None if _state["last_action_start"] is None else float(_state["last_action_start"])


def first_action() -> tuple[float, float] | None:
    """(start, end) of the method's first action, e.g. the kill; None until it has ended."""
    if _state["start"] is None or _state["first_action_end"] is None:
        return None
    return float(_state["start"]), float(_state["first_action_end"])


def first_action_applied() -> tuple[float, float] | None:
    """(applied, end) of the method's first action: from the moment it applied its fault (the
    `applied_at` of its output, else its start); None until it has ended."""
    span = first_action()
    if span is None:
        return None
    applied = _state["applied_at"]
    return (float(applied), span[1]) if applied is not None else span


def method_running() -> bool:
    """Whether Chaos Toolkit is inside the method now (not in the hypothesis or the rollbacks)."""
    return bool(_state["in_method"])


def fault_start() -> float | None:
    """When the method's first action started; None before."""
    return None if _state["start"] is None else float(_state["start"])


def fault_window() -> tuple[float, float] | None:
    """(start, end) in seconds since the epoch; end is now while the method still runs."""
    if _state["start"] is None:
        return None
    return float(_state["start"]), float(_state["end"] if _state["end"] is not None else time.time())


def origin(since: str | float) -> float:
    """The moment a latency counts from: the fault's start ("fault"), the start of the method's
    latest action ("last-action": the one that brought a service back), the probe's start
    ("now", or when neither has happened yet), or seconds since the epoch."""
    if since == "now":
        return time.time()
    if since == "last-action":
        return last_action_start() or time.time()
    if since == "fault":
        window = fault_window()
        return window[0] if window else time.time()
    return float(since)
