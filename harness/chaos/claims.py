"""The claims of an experiment, judged after the run.

Three sources, all recorded in verdict.json with what was expected and what was measured:
  - the steady-state hypothesis, before and after the method (Chaos Toolkit's own probes);
  - `extensions: [{name: devsim, claims: [...]}]` in the experiment file: each claim either
    calls a probe of harness.chaos.probes over the journal's exact fault window, or reads the
    output of an activity that ran in the method (`journal: <activity name>`, plus
    `field: <key>` when that output is a mapping);
  - the rollbacks: every one must have succeeded, or the run is an error.

Each claim ends in one of four outcomes (docs/guides/verdict-semantics.md):
  held         evidence was found and lies within the tolerance;
  failed       evidence lies outside it, or a probe found evidence against it (Refuted), or
               only a lower bound was measured (OpenEnded) and it lies above the tolerance;
  no evidence  nothing to judge by: no request or sample in the window (NoEvidence), an
               activity that did not run, a number that is NaN, a lower bound the tolerance
               allows; such a claim never passes;
  error        the probe itself broke (an exception other than the two above).
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chaoslib.hypothesis import ensure_hypothesis_tolerance_is_valid, within_tolerance

from harness.chaos import evidence, probes, registry  # noqa: F401  (probes: its claim probes fill the registry)
from harness.chaos.discovery import PROBES
from harness.verdict.record import (
    ERROR,
    FAILED,
    HELD,
    NO_EVIDENCE,
    Claim,
    ClaimSpec,
    Window,
    raw_claims,
)

FIGURES = ("rto",)
# The probes a claim may call: each reads what the run recorded (the request log, the write
# audit, Prometheus's answers over the claim's window), so that the claim measures the fault
# and the run can be judged again from its folder. Every other probe reads the live stack at
# judging time, after the recovery: a claim on it goes through the method's journal.
RECORDED_PROBES = frozenset(registry.claim_probes())  # those of probes and writes, imported above
LIVE_PROBES = frozenset(name for names in PROBES.values() for name in names) - RECORDED_PROBES


def journal_ts(text: str) -> float:
    """A journal timestamp (ISO 8601) as seconds since the epoch."""
    return datetime.fromisoformat(text).timestamp()


def claim_specs(experiment: Mapping[str, Any]) -> list[ClaimSpec]:
    """The extension's claims, parsed once (the experiment has been validated)."""
    return [ClaimSpec.parse(spec) for spec in raw_claims(experiment)]


def spec_problems(spec: Any, method_names: set[str]) -> list[str]:
    """What is wrong with one claim of the extension; empty when it is well formed."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        return ["a claim must be a mapping with a name"]
    name = spec["name"]
    found: list[str] = []
    if ("probe" in spec) == ("journal" in spec):
        found.append(f"claim {name!r} needs exactly one of 'probe' or 'journal'")
    if "probe" in spec:
        fn = registry.claim_probes().get(str(spec["probe"]))
        if fn is None and spec["probe"] not in LIVE_PROBES:
            found.append(f"claim {name!r}: harness.chaos.probes has no probe {spec['probe']!r}")
        elif fn is None:
            found.append(f"claim {name!r}: {spec['probe']} reads the live stack when the run is judged, after "
                         "the recovery; call it in the method and claim on its output (journal: <its name>)")
        else:
            try:
                inspect.signature(fn).bind(**{**spec.get("arguments", {}), "configuration": None})
            except TypeError as exc:
                found.append(f"claim {name!r}: arguments do not match {spec['probe']}(): {exc}")
    if "field" in spec and ("journal" not in spec or not isinstance(spec["field"], str)):
        found.append(f"claim {name!r}: 'field' names one key of a journal activity's output")
    if "journal" in spec and spec["journal"] not in method_names:
        found.append(f"claim {name!r}: the method has no activity named {spec['journal']!r}")
    if spec.get("figure", "rto") not in FIGURES:
        found.append(f"claim {name!r}: figure must be one of {', '.join(FIGURES)}")
    if "tolerance" not in spec:
        found.append(f"claim {name!r} has no tolerance")
    else:
        try:
            ensure_hypothesis_tolerance_is_valid(spec["tolerance"])
        except Exception as exc:  # chaoslib raises InvalidActivity with its own message
            found.append(f"claim {name!r}: {exc}")
    return found


def fault_window(journal: dict[str, Any]) -> Window | None:
    """From the start of the method's first action to the end of the method, its pauses
    included: the start of the steady-state check after it, else its last activity's end."""
    runs = [r for r in journal.get("run", []) if r.get("start")]
    actions = [r for r in runs if r.get("activity", {}).get("type") == "action"]
    if not actions:
        return None
    start = min(journal_ts(r["start"]) for r in actions)
    end = max(journal_ts(r.get("end") or r["start"]) for r in runs)
    after = ((journal.get("steady_states") or {}).get("after") or {}).get("probes") or []
    starts = [journal_ts(p["start"]) for p in after if p.get("start")]
    if starts:
        end = max(end, min(starts))
    return Window(start, end)


def _first_action(journal: dict[str, Any]) -> dict[str, Any] | None:
    actions = [r for r in journal.get("run", []) if r.get("start") and r.get("end")
               and r.get("activity", {}).get("type") == "action"]
    return min(actions, key=lambda r: journal_ts(r["start"])) if actions else None


def first_action_window(journal: dict[str, Any]) -> Window | None:
    """The span of the method's first action (the kill, the switchover)."""
    first = _first_action(journal)
    return None if first is None else Window(journal_ts(first["start"]), journal_ts(first["end"]))


def applied_window(journal: dict[str, Any]) -> Window | None:
    """The first action's span from the moment it applied its fault: the `applied_at` its
    output names (seconds since the epoch; e.g. the kill after the replicas were cut off),
    else its start. A moment outside the action's span is not believed: its start."""
    first = _first_action(journal)
    if first is None:
        return None
    start, end = journal_ts(first["start"]), journal_ts(first["end"])
    applied = evidence.applied_at(first.get("output"), start, end)
    return Window(start if applied is None else applied, end)


def _expected(tolerance: Any) -> Any:
    if isinstance(tolerance, dict) and tolerance.get("type") == "range":
        lo, hi = tolerance["range"]
        return f"between {lo} and {hi}"
    if isinstance(tolerance, dict) and tolerance.get("type") == "regex":
        return f"matches {tolerance.get('pattern')}"
    return tolerance


def _outcome(tolerance: Any, value: Any, configuration: dict[str, Any]) -> tuple[str, str]:
    """Chaos Toolkit's own tolerance check on a value that is evidence; (outcome, error)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NO_EVIDENCE, "no value was measured"
    try:
        held = within_tolerance(tolerance, value, configuration=configuration, secrets=None)
    except Exception as exc:  # chaoslib raises on values its tolerance cannot compare
        return ERROR, f"the tolerance cannot judge {value!r}: {exc}"
    return (HELD, "") if held else (FAILED, "")


def bound_outcome(tolerance: Any, bound: float | None) -> str:
    """A figure known only to be at least `bound`: failed when the bound already lies above
    every value the tolerance allows (a range's top, an exact number), else no evidence (the
    real figure may lie either side)."""
    if bound is None or (isinstance(bound, float) and math.isnan(bound)):
        return NO_EVIDENCE
    top: Any = None
    if isinstance(tolerance, dict) and tolerance.get("type") == "range":
        top = tolerance["range"][1]
    elif isinstance(tolerance, int | float) and not isinstance(tolerance, bool):
        top = tolerance
    return FAILED if isinstance(top, int | float) and bound > top else NO_EVIDENCE


def _kind_outcome(kind: str, tolerance: Any, bound: float | None) -> str:
    """A probe's failure as an outcome: no evidence, refuted (failed), a lower bound judged
    against the tolerance, or a broken probe (error)."""
    if kind == "at least":
        return bound_outcome(tolerance, bound)
    return {"no evidence": NO_EVIDENCE, "refuted": FAILED}.get(kind, ERROR)


def _from_exception(kind: str, message: str, tolerance: Any) -> tuple[str, float | None]:
    """The outcome of a failure the journal recorded, and the lower bound its message carries."""
    bound = evidence.at_least(message) if kind in ("refuted", "at least") else None
    return _kind_outcome(kind, tolerance, bound), bound


def hypothesis_claims(journal: dict[str, Any]) -> list[Claim]:
    """The steady-state hypothesis as Chaos Toolkit judged it, before and after the method."""
    claims = []
    for phase in ("before", "after"):
        state = (journal.get("steady_states") or {}).get(phase) or {}
        for probe in state.get("probes", []):
            activity = probe.get("activity", {})
            outcome, error, bound = (HELD if probe.get("tolerance_met") else FAILED), "", None
            if probe.get("status") != "succeeded":
                error = (probe.get("exception") or ["the probe did not succeed"])[-1].strip()
                outcome, bound = _from_exception(evidence.kind_of(probe.get("exception")), error,
                                                 activity.get("tolerance"))
            claims.append(Claim(
                name=f"steady state {phase} the fault: {activity.get('name', '?')}", source="steady-state hypothesis",
                expected=_expected(activity.get("tolerance")), measured=probe.get("output"),
                outcome=outcome, error=error, at_least=bound))
    return claims


def recovery_window(journal: dict[str, Any], load_end: float) -> Window | None:
    """From the end of the experiment (its rollbacks included) to the end of the load."""
    if not journal.get("end"):
        return None
    return Window(journal_ts(journal["end"]), load_end)


NOT_BACK = "the stack is back in its steady state after the rollbacks"


def not_back(why: str, waited_s: float) -> Claim:
    """The claim every run makes without saying so: the stack is back in its steady state
    after the rollbacks. Recorded only when it failed (a stack that never came back is a
    failed run, not one without evidence)."""
    return Claim(NOT_BACK, "devsim run: every service healthy, "
                 "the database cluster whole, the app served and scraped", f"within {waited_s:g} s", why, FAILED)


def extension_claims(experiment: Mapping[str, Any], journal: dict[str, Any], window: Window | None,
                     configuration: dict[str, Any], recovery: Window | None = None) -> list[Claim]:
    """Each claim of the extension: measured (the probe run now over its recorded window, or
    the journal's record of the activity), then judged against its tolerance."""
    by_name = {r.get("activity", {}).get("name"): r for r in journal.get("run", [])}
    windows = {"fault": window, "recovery": recovery, "first-action": first_action_window(journal),
               "applied": applied_window(journal)}
    claims = []
    for spec in claim_specs(experiment):
        if spec.journal:
            claim = _judge_journal(spec, by_name.get(spec.journal), configuration)
        else:
            claim = judge_measurement(spec, measure(spec, windows, configuration), configuration)
        claims.append(replace(claim, figure=spec.figure))
    return claims


@dataclass(frozen=True)
class Measurement:
    """What a claim's probe gave: a value, or the kind of failure (no evidence, refuted, error)."""

    source: str
    value: Any = None
    kind: str = ""  # "" for a value; else "no evidence", "refuted", "at least" or "error"
    message: str = ""
    window: tuple[float, float] | None = None
    at_least: float | None = None


def measure(spec: ClaimSpec, windows: Mapping[str, Window | None], configuration: dict[str, Any]) -> Measurement:
    """Runs the claim's probe over the claim's window (the only impure step of judging)."""
    arguments = dict(spec.arguments)
    source = f"{spec.probe}({json.dumps(arguments, sort_keys=True)})"
    probe = registry.claim_probes()[spec.probe]
    takes_window = "window" in inspect.signature(probe).parameters
    wanted = arguments.get("window", "fault" if takes_window else None)
    span: tuple[float, float] | None = None
    if isinstance(wanted, str) and wanted in windows:
        found = windows[wanted]
        if found is None:
            return Measurement(source, kind=NO_EVIDENCE, message=f"no {wanted} window: the experiment did not get "
                               "that far")
        span = (found.start, found.end)
        arguments["window"] = [found.start, found.end]
    elif isinstance(wanted, list | tuple) and len(wanted) == 2:
        span = (float(wanted[0]), float(wanted[1]))
    try:
        value = probe(**arguments, configuration=configuration)
    except evidence.NoEvidence as exc:
        return Measurement(source, kind=NO_EVIDENCE, message=str(exc), window=span)
    except evidence.Refuted as exc:
        return Measurement(source, kind="refuted", message=str(exc), window=span, at_least=exc.at_least)
    except evidence.OpenEnded as exc:
        return Measurement(source, kind="at least", message=str(exc), window=span, at_least=exc.at_least)
    except Exception as exc:
        return Measurement(source, kind=ERROR, message=f"{type(exc).__name__}: {exc}", window=span)
    return Measurement(source, value=value, window=span)


def judge_measurement(spec: ClaimSpec, found: Measurement, configuration: dict[str, Any]) -> Claim:
    """A pure function of the claim and what was measured."""
    expected = _expected(spec.tolerance)
    if found.kind:
        outcome = _kind_outcome(found.kind, spec.tolerance, found.at_least)
        return Claim(spec.name, found.source, expected, None, outcome, found.message, window=found.window,
                     at_least=found.at_least)
    outcome, error = _outcome(spec.tolerance, found.value, configuration)
    return Claim(spec.name, found.source, expected, found.value, outcome, error, window=found.window)


def _judge_journal(spec: ClaimSpec, run: dict[str, Any] | None, configuration: dict[str, Any]) -> Claim:
    """A claim on the output of an activity of the method, as the journal recorded it."""
    expected = _expected(spec.tolerance)
    source = f"journal: {spec.journal}" + (f" -> {spec.field}" if spec.field else "")
    if run is None:
        return Claim(spec.name, source, expected, None, NO_EVIDENCE, "the activity did not run")
    value = run.get("output")
    if run.get("status") != "succeeded":
        error = (run.get("exception") or ["the activity did not succeed"])[-1].strip()
        outcome, bound = _from_exception(evidence.kind_of(run.get("exception")), error, spec.tolerance)
        if run.get("activity", {}).get("type") == "action":
            outcome = NO_EVIDENCE  # a failed action is the run's error; its claim has nothing to stand on
        return Claim(spec.name, source, expected, None, outcome, error, at_least=bound)
    if spec.field:  # one field of an activity that returns a mapping
        value = value.get(spec.field) if isinstance(value, dict) else None
    outcome, error = _outcome(spec.tolerance, value, configuration)
    return Claim(spec.name, source, expected, value, outcome, error)
