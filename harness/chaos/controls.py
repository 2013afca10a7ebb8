"""A Chaos Toolkit control that records the fault window, reports progress and, under plain
`chaos run`, judges the experiment's claims.

Declared in an experiment's `controls:` block, it works under `devsim run` and plain
`chaos run` alike. The fault window opens when the method's first action starts and closes
when the method ends; probes given `window: fault` read it while the run goes on.

After the experiment, under plain `chaos run` (not `devsim run`, which judges them itself
with its own load and windows), the claims of the devsim extension are judged as `devsim run`
would, over the journal's fault window, and written into the journal under `devsim`; a claim
that failed marks the journal deviated, so `chaos run` exits 1 as `devsim run` would.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from harness.chaos import engine, evidence
from harness.config import load_settings
from harness.errors import HarnessError
from harness.stack import tls

_state: dict[str, Any] = {"in_method": False, "start": None, "end": None, "first_action_end": None,
                          "applied_at": None, "last_action_start": None}


_driver = {"harness": False}


def harness_drives(flag: bool) -> None:
    """`devsim run` says it runs the experiment (and judges it itself)."""
    _driver["harness"] = flag


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


def _say(text: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def before_experiment_control(context: dict[str, Any], configuration: Any = None, **_kwargs: Any) -> None:
    reset()
    if not _driver["harness"]:  # a plain `chaos run`: the CA file the extension's session verifies with
        try:
            tls.save_ca(engine.driver(configuration), load_settings(os.environ))
        except HarnessError as exc:
            _say(f"no CA of the stack to trust ({exc.one_line()}): HTTPS requests to it will fail verification")


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
    output = state.get("output")
    if context.get("type") == "action" and _state["in_method"] and _state["first_action_end"] is None:
        ended = time.time()
        _state["first_action_end"] = ended
        _state["applied_at"] = evidence.applied_at(output, float(_state["start"]), ended)
    status = state.get("status", "?")
    shown = "" if output is None else f" -> {str(output)[:120]}"
    error = f" ({state.get('exception', [''])[-1].strip()})" if status == "failed" and state.get("exception") else ""
    _say(f"{context.get('type', 'activity')} {context.get('name', '?')!r} {status}{shown}{error}")


def after_experiment_control(context: dict[str, Any], state: Any = None, configuration: Any = None,
                             **_kwargs: Any) -> None:
    if _driver["harness"] or not isinstance(state, dict) or not isinstance(context, dict):
        return
    from harness.verdict import claims as claimlib  # the judge imports the probes, which import this module
    from harness.verdict import judge

    window = claimlib.fault_window(state) if state.get("run") else None
    found = claimlib.hypothesis_claims(state) + claimlib.extension_claims(context, state, window,
                                                                          dict(configuration or {}))
    status, reason = judge.status(state, found, "")
    mark(state, status, reason, [c.as_dict() for c in found])
    _say(f"devsim claims: {status}: {reason}")


def mark(journal: dict[str, Any], status: str, reason: str, claims: list[dict[str, Any]]) -> None:
    """The verdict in the journal; a failed claim makes the run deviated, as Chaos Toolkit says it."""
    journal["devsim"] = {"status": status, "reason": reason, "claims": claims}
    if any(c.get("outcome") == "failed" for c in claims):
        journal["deviated"] = True
