"""What each action of the extension is, said where it is defined.

- `@fault(undo=..., net=...)`: it injects a fault; `undo` names the action that takes it back
  (idempotent, safe when the fault was never injected). `net`: the safety net runs that undo
  on every service after every experiment; else the experiment's rollbacks must.
- `@undo`: it takes a fault back.
- `@step`: it injects nothing an undo would have to take back (a marker row, a forced WAL
  switch, a restore the experiment asks for).
- `@claim_probe`: a probe a claim of the `devsim` extension may name. It reads only what the
  run recorded (the client request log, Prometheus' history, the write audit), so a claim is
  judged after the recovery and again offline from the run's folder.

`devsim validate` reads the registry: an action of ours in a method must be one of the three,
and a fault's undo must be among the experiment's rollbacks (which always run). The registry
holds what the modules imported so far registered: a reader imports the modules it asks
about (`harness.chaos.discovery.ACTIONS` lists them all, and a test checks that every action
listed there is registered).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

@dataclass(frozen=True)
class Fault:
    name: str
    undo: str
    net: bool


_faults: dict[str, Fault] = {}
_undos: set[str] = set()
_steps: set[str] = set()
_claim_probes: dict[str, Callable[..., object]] = {}


def _name(func: Callable[..., object]) -> str:
    name = func.__name__
    if name in _faults or name in _undos or name in _steps:
        raise RuntimeError(f"the extension registers {name} twice")  # a test keeps this from shipping
    return name


def fault(undo: str, *, net: bool = False) -> Callable[[F], F]:
    def register(func: F) -> F:
        name = _name(func)
        _faults[name] = Fault(name, undo, net)
        return func
    return register


def undo(func: F) -> F:
    _undos.add(_name(func))
    return func


def step(func: F) -> F:
    _steps.add(_name(func))
    return func


def faults() -> tuple[Fault, ...]:
    """Every fault registered, in the order the modules were imported and define them."""
    return tuple(_faults.values())


def undo_of(name: str) -> str | None:
    """The undo of a fault of ours; None when `name` is not one of our faults."""
    found = _faults.get(name)
    return found.undo if found else None


def kind(name: str) -> str | None:
    """"fault", "undo" (a fault's undo may also be a fault: rolling back a release), "step",
    or None for a name that is not an action of ours."""
    if name in _faults:
        return "fault"
    if name in _undos:
        return "undo"
    return "step" if name in _steps else None


def claim_probe(func: F) -> F:
    if func.__name__ in _claim_probes:
        raise RuntimeError(f"the extension registers the claim probe {func.__name__} twice")
    _claim_probes[func.__name__] = func
    return func


def claim_probes() -> Mapping[str, Callable[..., object]]:
    """name -> probe, for the claim probes of the modules imported so far."""
    return dict(_claim_probes)
