"""A release as a fault: `devsim deploy`'s guarded rolling update, run from an experiment."""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration

from harness.chaos import engine, registry
from harness.chaos.engine import activity
from harness.deploy import rollout
from harness.deploy.guard import GuardPolicy

logger = logging.getLogger("chaostoolkit")


@registry.fault(undo="roll_service")
@activity
def deploy_release(service: str, version: str, guard: bool | str = True, max_error_ratio: float = 0.05,
                   max_p95_s: float = 1.0, p95_for_s: float = 12.0, watch_after_s: float = 20.0, timeout: float = 300,
                   configuration: Configuration = None) -> dict[str, Any]:
    """`devsim deploy` as an action: the guarded rolling update, the engine's rollback and the guard's.

    Returns the deploy's result (outcome live, rolled-back or paused; restored_s; reason) for
    claims to read with `field:`. A guard given as the string "false" is off (for --var).
    """
    t = engine.target(configuration)
    enabled = guard if isinstance(guard, bool) else str(guard).lower() not in ("false", "0", "no", "off")
    policy = GuardPolicy(max_error_ratio=float(max_error_ratio), max_p95_s=float(max_p95_s),
                         p95_for_s=float(p95_for_s), watch_after_s=float(watch_after_s)) if enabled else None
    result = rollout.deploy(engine.driver(configuration), t.prometheus_url, version, policy, on_step=_log,
                            service=service, timeout=float(timeout))
    return result.as_dict()


def _log(message: str) -> None:
    logger.info(message.strip())
