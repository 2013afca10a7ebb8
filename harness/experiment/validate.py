"""`devsim validate`: Chaos Toolkit's own validation, then ours, each error naming file and activity."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from chaoslib.activity import ensure_activity_is_valid
from chaoslib.exceptions import ChaosException
from chaoslib.experiment import ensure_experiment_is_valid
from chaoslib.loader import load_experiment

from harness.chaos import actions, backups, database, registry  # noqa: F401  (their actions fill the registry)
from harness.chaos.claims import spec_problems
from harness.chaos.discovery import ACTIONS
from harness.errors import UsageError
from harness.experiment.abort import condition_problems
from harness.experiment.power import control_problems, coverage_problems
from harness.stack.switches import Switch
from harness.verdict.record import raw_claims, series_problems

CONTROL_MODULE = "harness.chaos.controls"


def activities(experiment: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, activity) for every activity of the steady-state hypothesis, method and rollbacks."""
    for probe in (experiment.get("steady-state-hypothesis") or {}).get("probes", []) or []:
        yield "steady-state-hypothesis", probe
    for activity in experiment.get("method", []) or []:
        yield "method", activity
    for activity in experiment.get("rollbacks", []) or []:
        yield "rollbacks", activity


MAX_BYTES = 1_000_000  # the shipped experiments are 2 to 6 kB
MAX_DEPTH = 32  # nesting of mappings and lists; the shipped experiments reach 7


def check_shape(path: Path, text: str) -> None:
    """Refuses, before anything builds objects from it, a file that would cost far more than
    its size: YAML aliases (a few hundred bytes of them expand to millions of strings) and
    nesting past MAX_DEPTH (which recursive readers turn into a RecursionError). Reads the
    event stream, which needs neither recursion nor expansion."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            line = event.start_mark.line + 1 if event.start_mark else 0
            if isinstance(event, yaml.AliasEvent):
                raise UsageError(f"{path}: line {line}: YAML aliases (*{event.anchor}) are not allowed in an "
                                 "experiment file; write the value out")
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise UsageError(f"{path}: line {line}: nested more than {MAX_DEPTH} levels deep")
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # malformed: the reader below names the line


def load(path: Path) -> dict[str, Any]:
    """Reads one experiment file; a malformed or hostile one is a UsageError naming the file."""
    if not path.is_file():
        raise UsageError(f"{path}: no such experiment file")
    if (size := path.stat().st_size) > MAX_BYTES:
        raise UsageError(f"{path}: {size} bytes; an experiment file is at most {MAX_BYTES} bytes")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a text file ({type(exc).__name__})") from exc
    check_shape(path, text)
    try:
        yaml.safe_load(text)
        experiment: dict[str, Any] = load_experiment(str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{path}: malformed YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    except (ChaosException, OSError, ValueError) as exc:
        raise UsageError(f"{path}: {exc}") from exc
    if not isinstance(experiment, dict):
        raise UsageError(f"{path}: an experiment must be a mapping")
    return experiment


def problems(path: Path, experiment: dict[str, Any], services: tuple[str, ...],
             switches: Mapping[str, Switch] | None = None) -> list[str]:
    """Every problem found in one experiment, each a line naming the file and the activity.
    `switches`: the stack's declared switches, which the negative controls may set."""
    found: list[str] = []
    for where, activity in activities(experiment):
        name = activity.get("name", "?") if isinstance(activity, dict) else "?"
        prefix = f"{path}: {where} activity {name!r}"
        if isinstance(activity, dict) and activity.get("type") == "action" and where == "steady-state-hypothesis":
            found.append(f"{prefix}: the steady-state hypothesis may hold probes only")
        try:
            ensure_activity_is_valid(activity)
        except ChaosException as exc:
            found.append(f"{prefix}: {exc}")
            continue
        arguments = (activity.get("provider") or {}).get("arguments") or {}
        service = arguments.get("service")
        if service is not None and services and service not in services:
            found.append(f"{prefix}: the stack has no service {service!r} (it has {', '.join(services)})")
    if not found:
        try:
            ensure_experiment_is_valid(experiment)
        except ChaosException as exc:
            found.append(f"{path}: {exc}")
    method_names = {str(a.get("name")) for a in experiment.get("method", []) or [] if isinstance(a, dict)}
    for spec in raw_claims(experiment):
        found += [f"{path}: {p}" for p in spec_problems(spec, method_names)]
    found += [f"{path}: {p}" for p in series_problems(experiment)]
    found += [f"{path}: {p}" for p in undo_problems(experiment)]
    found += [f"{path}: {p}" for p in variable_problems(experiment)]
    found += [f"{path}: {p}" for p in number_problems(experiment)]
    found += [f"{path}: {p}" for p in control_problems(experiment, switches) + coverage_problems(experiment)]
    found += [f"{path}: {p}" for p in condition_problems(experiment)]
    controls = [c.get("provider", {}).get("module") for c in experiment.get("controls", []) or []
                if isinstance(c, dict)]
    if CONTROL_MODULE not in controls:
        found.append(f"{path}: declare the control {CONTROL_MODULE} (it records the fault window)")
    return found


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def number_problems(experiment: dict[str, Any]) -> list[str]:
    """Every number an activity is given is finite: YAML's .inf and .nan parse as floats, and a
    delay or timeout of infinity makes a fault that never ends."""
    found = []
    for where, activity in activities(experiment):
        provider = activity.get("provider") if isinstance(activity, dict) else None
        arguments = provider.get("arguments") if isinstance(provider, dict) else None
        for name, value in (arguments or {}).items() if isinstance(arguments, dict) else ():
            if isinstance(value, float) and not math.isfinite(value):
                found.append(f"{where} activity {activity.get('name', '?')!r}: argument {name} must be a finite "
                             f"number, got {value}")
    return found


def variable_problems(experiment: dict[str, Any]) -> list[str]:
    """Every ${name} the experiment uses is declared in its configuration (or secrets): Chaos
    Toolkit leaves an undeclared one as the literal text, which an action then receives."""
    declared = set(experiment.get("configuration") or {}) | set(experiment.get("secrets") or {})
    body = {k: v for k, v in experiment.items() if k not in ("configuration", "secrets")}
    used = sorted({name for text in _strings(body) for name in _VARIABLE.findall(text)})
    return [f"${{{name}}} is used but not declared in the configuration (declare it with a default; "
            f"--var sets it)" for name in used if name not in declared]


ACTION_MODULES = tuple(ACTIONS)


def undo_problems(experiment: dict[str, Any]) -> list[str]:
    """Every action of ours in the method is a fault the harness knows how to undo, and its
    undo is among the rollbacks (which always run); an action of ours that is neither a
    fault, an undo nor a step (a helper) has no business in the method."""
    def ours(activity: Any) -> str | None:
        provider = activity.get("provider") if isinstance(activity, dict) else None
        if not isinstance(provider, dict) or provider.get("module") not in ACTION_MODULES:
            return None
        return str(provider.get("func"))

    rollbacks = {ours(a) for a in experiment.get("rollbacks", []) or []}
    found = []
    for activity in experiment.get("method", []) or []:
        func = ours(activity)
        if func is None or not isinstance(activity, dict) or activity.get("type") != "action":
            continue
        where = f"method activity {activity.get('name', '?')!r}"
        undo = registry.undo_of(func)
        if registry.kind(func) is None:  # every undo is registered as one (or as a fault: roll_service)
            found.append(f"{where}: {func} is not a fault the harness knows how to undo")
        elif undo is not None and undo not in rollbacks:
            found.append(f"{where}: its undo {undo} is not among the rollbacks")
    return found


def validate(path: Path, services: tuple[str, ...], switches: Mapping[str, Switch] | None = None) -> dict[str, Any]:
    """The loaded experiment when it is valid; else a UsageError listing the first problems."""
    experiment = load(path)
    found = problems(path, experiment, services, switches)
    if found:
        raise UsageError(found[0], details=found[1:])
    return experiment
