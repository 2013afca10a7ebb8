"""Faults for Chaos Toolkit experiments, each paired with the action that undoes it.

The faults live by what they act on (`faults.service`, `faults.network`, `faults.stress`, `faults.load`,
`faults.deploy`, and the database's in `chaos.database`); experiment files name them here.
Each fault names its undo where it is defined (`harness.chaos.registry`): the safety net
(`restore_everything`) runs every undo marked for it, and `devsim validate` refuses an
experiment whose method uses a fault of ours without its undo among the rollbacks.

Every undo is idempotent and safe to call when the fault was never injected, so a run that
died halfway can still be undone.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from harness.chaos import registry
from harness.chaos.engine import activity
from harness.chaos.faults.deploy import deploy_release
from harness.chaos.faults.load import spike_load, stop_load_spike, wait_for_load_spike
from harness.chaos.faults.network import (
    CHAIN,
    add_network_fault,
    partition_service,
    remove_network_fault,
    set_proxy_latency,
)
from harness.chaos.faults.service import (
    SCALED_FROM,
    image_for,
    kill_tasks,
    pause_service,
    restart_service,
    restore_service,
    roll_service,
    stop_service,
    stopped,
    unpause_service,
    wait_until_converged,
)
from harness.chaos.faults.stress import STRESS_PID_FILE, stop_cpu_stress, stress_cpu

__all__ = [
    "CHAIN",
    "SCALED_FROM",
    "STRESS_PID_FILE",
    "add_network_fault",
    "deploy_release",
    "image_for",
    "kill_tasks",
    "partition_service",
    "pause_service",
    "remove_network_fault",
    "restart_service",
    "restore_everything",
    "restore_service",
    "roll_service",
    "set_proxy_latency",
    "spike_load",
    "stop_cpu_stress",
    "stop_load_spike",
    "stop_service",
    "stress_cpu",
    "unpause_service",
    "wait_for_load_spike",
    "wait_until_converged",
]

Undo = Callable[..., Any]


def _safety_net() -> list[tuple[str, Undo]]:
    """The undos the registry marks for the safety net, in this order (restoring a stopped
    service last: it waits for the tasks to run)."""
    undos: dict[str, Undo] = {"unpause_service": unpause_service, "remove_network_fault": remove_network_fault,
                              "stop_cpu_stress": stop_cpu_stress, "restore_service": _restore_if_stopped}
    marked = {f.undo for f in registry.faults() if f.net}
    if marked - set(undos):
        raise RuntimeError(f"the safety net has no undo for {sorted(marked - set(undos))}")  # a test keeps this out
    return [(name, undo) for name, undo in undos.items() if name in marked]


@activity
def _restore_if_stopped(service: str, configuration: Configuration = None) -> int:
    return restore_service(service, configuration=configuration) if stopped(service, configuration) else 0


@registry.undo
def restore_everything(services: list[str], configuration: Configuration = None) -> list[str]:
    """The safety net run after every experiment: every undo the registry marks for it, on
    every service (an undo with nothing to undo does nothing and says nothing). The services
    are undone side by side: each undo asks the engine a question or two, and it runs after
    every run."""

    def undo_all(name: str) -> list[str]:
        done = []
        for undo_name, undo in _safety_net():
            try:
                if undo(name, configuration=configuration):
                    done.append(f"{undo_name}({name})")
            except ActivityFailed:
                continue
        return done

    with ThreadPoolExecutor(max_workers=8) as pool:
        done = [entry for undone in pool.map(undo_all, services) for entry in undone]
    if stop_load_spike(configuration=configuration):  # the stack's, not a service's
        done.append("stop_load_spike()")
    return done
