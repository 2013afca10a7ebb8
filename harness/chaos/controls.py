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

import sys
import time
from typing import Any

from harness.chaos import claims as claimlib
from harness.chaos import engine, evidence, runstate
from harness.errors import HarnessError
from harness.target import tls
from harness.verdict import judge


def _say(text: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def before_experiment_control(context: dict[str, Any], configuration: Any = None, **_kwargs: Any) -> None:
    runstate.reset()
    if not runstate.harness_driven():  # a plain `chaos run`: the CA file the extension's session verifies with
        try:
            tls.save_ca(engine.driver(configuration), engine.settings(configuration))
        except HarnessError as exc:
            _say(f"no CA of the stack to trust ({exc.one_line()}): HTTPS requests to it will fail verification")


def before_method_control(context: Any, **_kwargs: Any) -> None:
    runstate.method_started()


def after_method_control(context: Any, **_kwargs: Any) -> None:
    runstate.method_ended()


def before_activity_control(context: dict[str, Any], **_kwargs: Any) -> None:
    kind = context.get("type", "activity")
    if kind == "action":
        runstate.action_started()
    _say(f"{kind} {context.get('name', '?')!r} started")


def after_activity_control(context: dict[str, Any], state: dict[str, Any] | None = None, **_kwargs: Any) -> None:
    state = state or {}
    output = state.get("output")
    if context.get("type") == "action":
        runstate.action_ended(lambda start, ended: evidence.applied_at(output, start, ended))
    status = state.get("status", "?")
    shown = "" if output is None else f" -> {str(output)[:120]}"
    error = f" ({state.get('exception', [''])[-1].strip()})" if status == "failed" and state.get("exception") else ""
    _say(f"{context.get('type', 'activity')} {context.get('name', '?')!r} {status}{shown}{error}")


def after_experiment_control(context: dict[str, Any], state: Any = None, configuration: Any = None,
                             **_kwargs: Any) -> None:
    if runstate.harness_driven() or not isinstance(state, dict) or not isinstance(context, dict):
        return
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
