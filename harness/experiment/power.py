"""Claim power: the negative controls an experiment declares, and what they showed.

A claim that passes says little unless it would have failed on a system without the safety
mechanism it is about. An experiment declares its controls in its devsim extension:

    extensions:
      - name: devsim
        claims: [...]
        controls:
          - name: no health checks, no retries
            switches: {LB_HEALTH_CHECKS: no-check, LB_RETRIES: 0}
            variables: {}          # optional: configuration values for this run, as --var sets them
            must_fail: [no client request fails over the fault window]

`devsim run --prove` runs the experiment as shipped, then once per control with its switches
set; this module (pure: verdicts in, verdict out) gives each claim its power:

  shown     held as shipped and failed under a control that names it (the measured value
            recorded with the control's name and run);
  vacuous   held under a control that names it: the check cannot tell the broken system
            from the working one; the proved run is `failed`;
  unproven  the control's run has no verdict on it (no evidence, a broken probe), or it
            failed in a run that ended in error (such a run shows nothing, whatever one
            claim measured in it); the proved run is `error`;
  ""        no control names the claim (steady-state probes, claims without a control).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.stack.switches import Switch
from harness.verdict.record import (
    FAILED,
    HELD,
    SHOWN,
    UNPROVEN,
    VACUOUS,
    Claim,
    ControlRecord,
    Verdict,
    extension,
    extension_list,
    raw_claims,
)


@dataclass(frozen=True)
class Control:
    """One declared negative control: the switches it sets and the claims that must then fail."""

    name: str
    switches: tuple[tuple[str, str], ...]
    must_fail: tuple[str, ...]
    variables: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        return " ".join([f"{k}={v}" for k, v in self.switches] + [f"--var {k}={v}" for k, v in self.variables])


def _text(value: Any) -> str:
    """A switch value as `--set` takes it: YAML's 0 or true become "0" and "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def raw_controls(experiment: Mapping[str, Any]) -> list[Any]:
    return extension_list(experiment, "controls")


def controls(experiment: Mapping[str, Any]) -> list[Control]:
    """The declared controls, parsed (call after `control_problems` found none)."""
    return [Control(str(c["name"]), tuple((str(k), _text(v)) for k, v in c["switches"].items()),
                    tuple(str(n) for n in c["must_fail"]), tuple((c.get("variables") or {}).items()))
            for c in raw_controls(experiment)]


def control_problems(experiment: Mapping[str, Any], declared: Mapping[str, Switch] | None) -> list[str]:
    """Every problem of the declared controls, one line each; empty when they are well formed.
    `declared`: the stack's switches (None: the switch names are not checked)."""
    if "controls" in extension(experiment) and not isinstance(extension(experiment)["controls"], list):
        return ["'controls' must be a list of negative controls"]
    claim_names = {str(c.get("name")) for c in raw_claims(experiment) if isinstance(c, dict)}
    found: list[str] = []
    seen: set[str] = set()
    for n, raw in enumerate(raw_controls(experiment), start=1):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
            found.append(f"control #{n} must be a mapping with a name")
            continue
        where = f"control {raw['name']!r}"
        if raw["name"] in seen:
            found.append(f"{where} is declared twice")
        seen.add(raw["name"])
        switches = raw.get("switches")
        if not isinstance(switches, dict) or not switches:
            found.append(f"{where} needs switches: a mapping of switch names to values")
        elif declared is not None:
            found += [f"{where}: {p}" for p in _switch_problems(switches, declared)]
        variables = raw.get("variables", {})
        declared_vars = set(experiment.get("configuration") or {})
        if not isinstance(variables, dict):
            found.append(f"{where}: variables must map configuration keys to values")
        else:
            found += [f"{where}: variable {k!r} is not in the experiment's configuration" for k in variables
                      if k not in declared_vars]
        must_fail = raw.get("must_fail")
        if not isinstance(must_fail, list) or not must_fail or not all(isinstance(m, str) for m in must_fail):
            found.append(f"{where} needs must_fail: a list of the claims that must fail under it")
            continue
        found += [f"{where}: no claim is named {name!r} (the claims are: {', '.join(sorted(claim_names))})"
                  for name in must_fail if name not in claim_names]
    return found


@dataclass(frozen=True)
class Coverage:
    """Which claims a negative control can show failing, and why the others have none."""

    controlled: tuple[str, ...]
    reasoned: tuple[tuple[str, str], ...]  # (claim, its `no_control` reason)
    missing: tuple[str, ...]

    @property
    def claims(self) -> int:
        return len(self.controlled) + len(self.reasoned) + len(self.missing)

    def lines(self) -> list[str]:
        """The coverage, then each claim that neither has a control nor says why."""
        head = (f"{len(self.controlled)} of {self.claims} claims have a negative control; {len(self.reasoned)} "
                "say why not (no_control)" + (f"; {len(self.missing)} neither" if self.missing else ""))
        return [head] + [f"  no negative control, and no no_control reason: {n!r}" for n in self.missing]


def _named(experiment: Mapping[str, Any]) -> set[str]:
    """The claims some control's must_fail names."""
    return {str(n) for c in raw_controls(experiment) if isinstance(c, dict) for n in c.get("must_fail") or []}


def coverage(experiment: Mapping[str, Any]) -> Coverage:
    """Each claim of the extension: named in a control's must_fail, or given `no_control`
    (one line saying why no switch of the stack can make it fail), or neither."""
    named = _named(experiment)
    controlled, reasoned, missing = [], [], []
    for c in raw_claims(experiment):
        if not isinstance(c, dict):
            continue
        name = str(c.get("name"))
        if name in named:
            controlled.append(name)
        elif isinstance(c.get("no_control"), str) and c["no_control"].strip():
            reasoned.append((name, str(c["no_control"]).strip()))
        else:
            missing.append(name)
    return Coverage(tuple(controlled), tuple(reasoned), tuple(missing))


def coverage_problems(experiment: Mapping[str, Any]) -> list[str]:
    """A claim both named in a control's must_fail and saying it has none."""
    named = _named(experiment)
    return [f"claim {c['name']!r} is in a control's must_fail and says no_control" for c in raw_claims(experiment)
            if isinstance(c, dict) and "no_control" in c and str(c.get("name")) in named]


def _switch_problems(switches: Mapping[Any, Any], declared: Mapping[str, Switch]) -> list[str]:
    found = []
    for key, value in switches.items():
        switch = declared.get(str(key))
        if switch is None:
            found.append(f"unknown switch {key!r}; the stack's switches are: {', '.join(sorted(declared))}")
        elif not switch.allows(_text(value)):
            found.append(f"switch {key} must be {switch.describe_values()}, got {_text(value)!r}")
    if not found and all(declared[str(k)].default == _text(v) for k, v in switches.items()):
        found.append("every switch is at its shipped value: the control would run the stack as shipped")
    return found


@dataclass(frozen=True)
class ControlRun:
    """A control and the verdict of the run made under it (None when it never ran)."""

    control: Control
    verdict: Verdict | None
    problem: str = ""  # why there is no verdict (setting the switches failed, ...)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


_RANK = {SHOWN: 0, UNPROVEN: 1, VACUOUS: 2}  # a claim's power is the worst any control gave it


def _under(claim: Claim, run: ControlRun) -> tuple[str, str]:
    """(power, note) of the claim from one control run that names it."""
    under = next((c for c in run.verdict.claims if c.name == claim.name), None) if run.verdict else None
    label = f"control {run.control.name!r}"
    if under is None or run.verdict is None:
        why = run.problem or (run.verdict.reason if run.verdict else "it did not run")
        return UNPROVEN, f"{label}: no verdict on the claim ({why})"
    if under.outcome == FAILED and run.verdict.status not in ("failed", "aborted"):  # an error run shows nothing
        return UNPROVEN, (f"{label}: the claim failed, but the run ended {run.verdict.status} "
                          f"({run.verdict.reason}), not failed or aborted")
    if under.outcome == FAILED:
        measured = _show(under.measured) if under.measured is not None else f"at least {under.at_least} s"
        return SHOWN, f"failed under {label} ({run.control.describe()}): measured {measured}, run {run.verdict.run_id}"
    if under.outcome == HELD:
        return VACUOUS, (f"HELD under {label} ({run.control.describe()}): measured {_show(under.measured)}, "
                         f"run {run.verdict.run_id}")
    return UNPROVEN, f"{label}: {under.outcome} ({under.error or 'nothing measured'})"


def _power(claim: Claim, runs: Sequence[ControlRun]) -> Claim:
    """The claim as shipped, with its power from the controls that name it."""
    found = [_under(claim, r) for r in runs if claim.name in r.control.must_fail]
    if not found:
        return claim
    return replace(claim, power=max((p for p, _ in found), key=_RANK.__getitem__),
                   power_note="; ".join(note for _, note in found))


def assess(shipped: Verdict, runs: Sequence[ControlRun]) -> Verdict:
    """The shipped run's verdict with each claim's power, and its status: a shipped run that
    did not pass keeps its own status; else a vacuous claim fails it and an unproven one
    makes it an error."""
    claims = tuple(_power(c, runs) for c in shipped.claims)
    proved = replace(shipped, claims=claims, controls=tuple(_control_record(r) for r in runs))
    if shipped.status != "passed":
        return proved
    for power, status, what in ((VACUOUS, "failed", "is vacuous"), (UNPROVEN, "error", "is unproven")):
        hit = [c for c in claims if c.power == power]
        if hit:
            return replace(proved, status=status, reason=f"claim {hit[0].name!r} {what}: {hit[0].power_note}")
    shown = sum(c.power == SHOWN for c in claims)
    return replace(proved, reason=f"all {len(claims)} claims held; {shown} shown to fail under "
                                  f"{len(runs)} control(s)")


def control_of(record: ControlRecord) -> Control:
    """A control as a proved verdict records it (`controls` in verdict.json), read back."""
    return Control(record.name, tuple(record.switches.items()), record.must_fail)


def _control_record(run: ControlRun) -> ControlRecord:
    v = run.verdict
    return ControlRecord(run.control.name, dict(run.control.switches), run.control.must_fail,
                         v.run_id if v else None, v.status if v else "error", v.reason if v else run.problem)
