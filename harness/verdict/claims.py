"""The claims of an experiment, judged after the run.

Three sources, all recorded in verdict.json with what was expected and what was measured:
  - the steady-state hypothesis, before and after the method (Chaos Toolkit's own probes);
  - `extensions: [{name: devsim, claims: [...]}]` in the experiment file: each claim either
    calls a probe of harness.chaos.probes over the journal's exact fault window, or reads the
    output of an activity that ran in the method (`journal: <activity name>`, plus
    `field: <key>` when that output is a mapping);
  - the rollbacks: every one must have succeeded, or the run is an error.
"""

from __future__ import annotations

import inspect
import json
import math
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from chaoslib.hypothesis import ensure_hypothesis_tolerance_is_valid, within_tolerance

from harness.chaos import probes

EXTENSION = "devsim"
FIGURES = ("rto",)


@dataclass(frozen=True)
class Claim:
    name: str
    source: str
    expected: Any
    measured: Any
    passed: bool
    error: str = ""
    figure: str = ""  # a key figure of the run history (rto) this claim's measurement stands for


@dataclass(frozen=True)
class FaultWindow:
    start: float
    end: float

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "seconds": round(self.end - self.start, 3),
                "start_iso": _iso(self.start), "end_iso": _iso(self.end)}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


def journal_ts(text: str) -> float:
    """A journal timestamp (ISO 8601) as seconds since the epoch."""
    return datetime.fromisoformat(text).timestamp()


def claim_specs(experiment: dict[str, Any]) -> list[dict[str, Any]]:
    for ext in experiment.get("extensions", []) or []:
        if isinstance(ext, dict) and ext.get("name") == EXTENSION:
            return list(ext.get("claims", []) or [])
    return []


def spec_problems(spec: Any, method_names: set[str]) -> list[str]:
    """What is wrong with one claim of the extension; empty when it is well formed."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        return ["a claim must be a mapping with a name"]
    name = spec["name"]
    found: list[str] = []
    if ("probe" in spec) == ("journal" in spec):
        found.append(f"claim {name!r} needs exactly one of 'probe' or 'journal'")
    if "probe" in spec:
        fn = getattr(probes, str(spec["probe"]), None)
        if not callable(fn) or str(spec["probe"]).startswith("_"):
            found.append(f"claim {name!r}: harness.chaos.probes has no probe {spec['probe']!r}")
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


def fault_window(journal: dict[str, Any]) -> FaultWindow | None:
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
    return FaultWindow(start, end)


def first_action_window(journal: dict[str, Any]) -> FaultWindow | None:
    """The span of the method's first action (the kill, the switchover)."""
    actions = [r for r in journal.get("run", []) if r.get("start") and r.get("end")
               and r.get("activity", {}).get("type") == "action"]
    if not actions:
        return None
    first = min(actions, key=lambda r: journal_ts(r["start"]))
    return FaultWindow(journal_ts(first["start"]), journal_ts(first["end"]))


def _expected(tolerance: Any) -> Any:
    if isinstance(tolerance, dict) and tolerance.get("type") == "range":
        lo, hi = tolerance["range"]
        return f"between {lo} and {hi}"
    return tolerance


def _passes(tolerance: Any, value: Any, configuration: dict[str, Any]) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    try:
        return bool(within_tolerance(tolerance, value, configuration=configuration, secrets=None))
    except Exception:
        return False


def hypothesis_claims(journal: dict[str, Any]) -> list[Claim]:
    claims = []
    for phase in ("before", "after"):
        state = (journal.get("steady_states") or {}).get(phase) or {}
        for probe in state.get("probes", []):
            activity = probe.get("activity", {})
            error = (probe.get("exception") or [""])[-1].strip() if probe.get("status") == "failed" else ""
            claims.append(Claim(
                name=f"steady state {phase} the fault: {activity.get('name', '?')}", source="steady-state hypothesis",
                expected=_expected(activity.get("tolerance")), measured=probe.get("output"),
                passed=bool(probe.get("tolerance_met")), error=error))
    return claims


def recovery_window(journal: dict[str, Any], load_end: float) -> FaultWindow | None:
    """From the end of the experiment (its rollbacks included) to the end of the load."""
    if not journal.get("end"):
        return None
    return FaultWindow(journal_ts(journal["end"]), load_end)


def extension_claims(experiment: dict[str, Any], journal: dict[str, Any], window: FaultWindow | None,
                     configuration: dict[str, Any], recovery: FaultWindow | None = None) -> list[Claim]:
    by_name = {r.get("activity", {}).get("name"): r for r in journal.get("run", [])}
    windows = {"fault": window, "recovery": recovery, "first-action": first_action_window(journal)}
    claims = []
    for spec in claim_specs(experiment):
        claim = _judge(spec, by_name, windows, configuration)
        claims.append(replace(claim, figure=str(spec["figure"])) if spec.get("figure") else claim)
    return claims


def _judge(spec: dict[str, Any], by_name: dict[Any, dict[str, Any]], windows: dict[str, FaultWindow | None],
           configuration: dict[str, Any]) -> Claim:
    tolerance = spec["tolerance"]
    if "journal" in spec:
        run = by_name.get(spec["journal"])
        if run is None:
            return Claim(spec["name"], f"journal: {spec['journal']}", _expected(tolerance), None, False,
                         "the activity did not run")
        failed = run.get("status") != "succeeded"
        error = (run.get("exception") or [""])[-1].strip() if failed else ""
        value = run.get("output")
        source = f"journal: {spec['journal']}"
        if "field" in spec:  # one field of an activity that returns a mapping
            source += f" -> {spec['field']}"
            value = value.get(spec["field"]) if isinstance(value, dict) else None
        return Claim(spec["name"], source, _expected(tolerance), value,
                     not failed and _passes(tolerance, value, configuration), error)
    arguments = dict(spec.get("arguments", {}))
    source = f"{spec['probe']}({json.dumps(arguments, sort_keys=True)})"
    takes_window = "window" in inspect.signature(getattr(probes, spec["probe"])).parameters
    wanted = arguments.get("window", "fault" if takes_window else None)
    if isinstance(wanted, str) and wanted in windows:
        span = windows[wanted]
        if span is None:
            return Claim(spec["name"], source, _expected(tolerance), None, False,
                         f"no {wanted} window: the experiment did not get that far")
        arguments["window"] = [span.start, span.end]
    try:
        value = getattr(probes, spec["probe"])(**arguments, configuration=configuration)
    except Exception as exc:
        return Claim(spec["name"], source, _expected(tolerance), None, False, str(exc))
    return Claim(spec["name"], source, _expected(tolerance), value, _passes(tolerance, value, configuration))


def as_dicts(claims: list[Claim]) -> list[dict[str, Any]]:
    return [asdict(c) for c in claims]
