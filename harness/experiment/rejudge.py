"""`devsim judge RUN_DIR`: a run judged again from its folder alone, offline.

Every claim a run may make reads what the run recorded: the journal (the steady state, the
method's outputs), the client request log, the write audit, and the answers Prometheus gave
over each claim's window (claim_series.json, kept while `devsim run` judged). Judging again
replays them through the same judge: no Docker, no Prometheus, no stack. What the run itself
recorded about how it ended (interrupted, a stop condition, a stack not back after the
rollbacks, the control runs of `--prove`) is taken from its verdict.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.chaos import claims as claimlib
from harness.chaos import probes
from harness.errors import UsageError
from harness.experiment import power
from harness.runs import RunFiles
from harness.verdict import judge
from harness.verdict.record import Claim, Verdict


@dataclass(frozen=True)
class Rejudged:
    recorded: Verdict
    verdict: Verdict
    differences: tuple[str, ...]


def _json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise UsageError(f"{path.parent} has no {path.name}: {what}") from exc
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc


def _read_verdict(files: RunFiles) -> Verdict:
    data = _json(files.verdict, "not the folder of a `devsim run` run")
    try:
        return Verdict.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{files.verdict} is not a run's verdict: {exc}") from exc


def _control_runs(folder: Path, recorded: Verdict) -> list[power.ControlRun]:
    runs = []
    for c in recorded.controls:
        control = power.control_of(c)
        sibling = RunFiles(folder.parent / c.run_id) if c.run_id else None
        verdict = _read_verdict(sibling) if sibling and sibling.verdict.is_file() else None
        runs.append(power.ControlRun(control, verdict, "" if verdict else c.reason or "it did not run"))
    return runs


def rejudge(folder: Path) -> Rejudged:
    """The run in `folder` judged again from its files; raises UsageError when it cannot be."""
    files = RunFiles(folder)
    recorded = _read_verdict(files)
    journal = _json(files.journal, "the run has no journal") if files.journal.is_file() else {}
    if files.experiment.is_file() or not isinstance(journal.get("experiment"), dict):
        experiment = _json(files.experiment, "it was recorded before runs kept their experiment, and its journal "
                           "has none, so it cannot be judged again")
    else:  # a run recorded before experiment.json: Chaos Toolkit's journal holds the experiment as it ran
        experiment = journal["experiment"]
    config = {**(experiment.get("configuration") or {}), "request_log": str(files.request_log),
              probes.REPLAY: str(files.claim_series)}
    window = claimlib.fault_window(journal) if journal else None
    found = claimlib.hypothesis_claims(journal) + claimlib.extension_claims(
        experiment, journal, window, config, recorded.recovery_window)
    found += [c for c in recorded.claims if c.name == claimlib.NOT_BACK]  # the run saw that; the folder cannot
    interrupted = recorded.reason.removesuffix(judge.INTERRUPTED_TAIL) if recorded.status == "error" and \
        recorded.reason.endswith(judge.INTERRUPTED_TAIL) else ""
    aborted = recorded.reason if recorded.abort and not interrupted else ""
    status, reason = judge.status(journal, found, interrupted, aborted)
    verdict = replace(recorded, status=status, reason=reason, claims=tuple(found), controls=())
    if recorded.controls:
        verdict = power.assess(verdict, _control_runs(folder, recorded))
    return Rejudged(recorded, verdict, tuple(differences(recorded, verdict)))


def _measured(c: Claim) -> tuple[Any, ...]:
    return c.outcome, c.measured, c.at_least, c.error, c.window


def _hidden_change(b: Claim, a: Claim) -> str:
    """When outcome, value and error read the same, the fields that differ (else nothing)."""
    if (b.outcome, b.measured, b.error) != (a.outcome, a.measured, a.error):
        return ""
    return "".join(f"; {field} recorded {getattr(b, field)!r}, judged again {getattr(a, field)!r}"
                   for field in ("at_least", "window") if getattr(b, field) != getattr(a, field))


def differences(recorded: Verdict, again: Verdict) -> list[str]:
    """What judging again changed, one line each; empty when it gave the same verdict."""
    found = []
    if (recorded.status, recorded.reason) != (again.status, again.reason):
        found.append(f"verdict: recorded {recorded.status} ({recorded.reason}), judged again {again.status} "
                     f"({again.reason})")
    before = {c.name: c for c in recorded.claims}
    now = {c.name: c for c in again.claims}
    for name in [*before, *(n for n in now if n not in before)]:
        if name not in now:
            found.append(f"claim {name!r}: recorded, not judged again")
        elif name not in before:
            found.append(f"claim {name!r}: judged again, not recorded")
        elif _measured(before[name]) != _measured(now[name]):
            b, a = before[name], now[name]
            found.append(f"claim {name!r}: recorded {b.outcome} ({b.measured!r}{', ' + b.error if b.error else ''}), "
                         f"judged again {a.outcome} ({a.measured!r}{', ' + a.error if a.error else ''})"
                         + _hidden_change(b, a))
        elif (before[name].power, before[name].power_note) != (now[name].power, now[name].power_note):
            b, a = before[name], now[name]
            found.append(f"claim {name!r}: power recorded {b.power} ({b.power_note}), judged again {a.power} "
                         f"({a.power_note})")
    return found
