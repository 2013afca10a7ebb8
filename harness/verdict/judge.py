"""The verdict of a run: a pure function of its journal, its judged claims and how it ended.

The rows of the semantics table (docs/guides/verdict-semantics.md), in order: anything that makes the run untrustworthy
is an error; then a claim that failed; then a claim with no evidence (an error too: nothing
was shown); only then passed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from harness.verdict.record import ERROR, FAILED, NO_EVIDENCE, Claim

INTERRUPTED_TAIL = "; rollbacks and the safety net ran"  # how an interrupted run's reason ends


def status(journal: dict[str, Any], found: Sequence[Claim], interrupted: str, aborted: str = "") -> tuple[str, str]:
    """(status, reason): passed, failed, aborted or error, and the one line that says why.
    `aborted`: the reason a stop condition gave when it tripped (it cut the method short, so
    nothing below applies)."""
    if interrupted:
        return "error", f"{interrupted}{INTERRUPTED_TAIL}"
    if aborted:
        return "aborted", aborted
    if not journal:
        return "error", "the experiment did not run"
    failed_actions = [r for r in journal.get("run", [])
                      if r.get("activity", {}).get("type") == "action" and r.get("status") != "succeeded"]
    if failed_actions:
        act = failed_actions[0]
        error = (act.get("exception") or ["?"])[-1].strip()
        return "error", f"action {act['activity'].get('name')!r} failed: {error}"
    failed_rollbacks = [r for r in journal.get("rollbacks", []) if r.get("status") != "succeeded"]
    if failed_rollbacks:
        return "error", f"rollback {failed_rollbacks[0]['activity'].get('name')!r} failed"
    before = (journal.get("steady_states") or {}).get("before") or {}
    if before and not before.get("steady_state_met"):
        return "error", "the steady state did not hold before the fault, so nothing was tested"
    if not found:
        return "error", "the experiment makes no claim"
    order = ((ERROR, "error", "could not be judged"), (FAILED, "failed", "failed"),
             (NO_EVIDENCE, "error", "has no evidence"))
    for outcome, status, what in order:
        hit = [c for c in found if c.outcome == outcome]
        if hit:
            c = hit[0]
            measured = c.error or json.dumps(c.measured, default=str)
            return status, f"claim {c.name!r} {what}: expected {c.expected}, measured {measured}"
    return "passed", f"all {len(found)} claims held"
