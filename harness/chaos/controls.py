"""A Chaos Toolkit control that records the fault window and reports progress.

Declared in an experiment's `controls:` block, it works under `devsim run` and plain
`chaos run` alike. The fault window opens when the method's first action starts and closes
when the method ends; probes given `window: fault` read it while the run goes on.
"""

from __future__ import annotations

import sys
import time
from typing import Any

_state: dict[str, Any] = {"in_method": False, "start": None, "end": None, "first_action_end": None,
                          "last_action_start": None}


def reset() -> None:
    _state.update(in_method=False, start=None, end=None, first_action_end=None, last_action_start=None)


def last_action_start() -> float | None:
    """When the method's latest action started (e.g. the one that brought a service back)."""
    return None if _state["last_action_start"] is None else float(_state["last_action_start"])


def first_action() -> tuple[float, float] | None:
    """(start, end) of the method's first action, e.g. the kill; None until it has ended."""
    if _state["start"] is None or _state["first_action_end"] is None:
        return None
    return float(_state["start"]), float(_state["first_action_end"])


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


def _say(text: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def before_experiment_control(context: dict[str, Any], **_kwargs: Any) -> None:
    reset()


def before_method_control(context: Any, **_kwargs: Any) -> None:
    _state["in_method"] = True


def after_method_control(context: Any, **_kwargs: Any) -> None:
    _state["in_method"] = False
    if _state["start"] is not None:
        _state["end"] = time.time()


def before_activity_control(context: dict[str, Any], **_kwargs: Any) -> None:
    kind = context.get("type", "activity")
    if kind == "action" and _state["in_method"]:
        _state["last_action_start"] = time.time()
        if _state["start"] is None:
            _state["start"] = _state["last_action_start"]
    _say(f"{kind} {context.get('name', '?')!r} started")


def after_activity_control(context: dict[str, Any], state: dict[str, Any] | None = None, **_kwargs: Any) -> None:
    state = state or {}
    if context.get("type") == "action" and _state["in_method"] and _state["first_action_end"] is None:
        _state["first_action_end"] = time.time()
    status = state.get("status", "?")
    output = state.get("output")
    shown = "" if output is None else f" -> {str(output)[:120]}"
    error = f" ({state.get('exception', [''])[-1].strip()})" if status == "failed" and state.get("exception") else ""
    _say(f"{context.get('type', 'activity')} {context.get('name', '?')!r} {status}{shown}{error}")
