"""`devsim deploy`: a Swarm rolling update to another release, guarded, rolled back on failure.

Swarm does the rollout (parallelism 1, start-first, health-gated, a monitor window, failure
action rollback: all in stack.yml) and its own rollback when a new task crashes or never
becomes healthy. The guard watches PromQL during the rollout and for a while after it, and
asks Swarm to roll back (`docker service rollback`) when the new release is healthy but
wrong. Either way the result says which release serves and why.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from docker.errors import DockerException, ImageNotFound

from harness.deploy.guard import Guard, GuardPolicy
from harness.errors import InfrastructureError, UsageError
from harness.metrics.prometheus import Prometheus
from harness.stack import engine

ENDED = ("complete", "failed", "rejected", "shutdown", "orphaned", "remove")


@dataclass(frozen=True)
class DeployResult:
    """outcome: live (the new release serves), rolled-back, or paused (Swarm stopped halfway)."""

    outcome: str
    version: str
    previous: str
    reason: str
    seconds: float  # from the update to the end of the deploy (rollback included)
    restored_s: float | None = None  # from the update until the previous release served again
    rolled_back_by: str = ""  # swarm or guard
    guard: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _service(client: Any, stack: str, name: str) -> Any:
    try:
        found = client.services.list(filters={"label": f"devsim.stack={stack}", "name": f"{stack}_{name}"})
    except DockerException as exc:
        raise InfrastructureError(f"cannot list Swarm services: {exc}") from exc
    for svc in found:
        if svc.name == f"{stack}_{name}":
            return svc
    raise InfrastructureError(f"the stack {stack!r} has no service {name!r}", hint="run `devsim up`")


def built_releases(client: Any, stack: str, service: str) -> list[str]:
    """Release tags (v1, v2, v2-crash, ...), without the content tags (v1-<image id>)."""
    tags = [t.split(":", 1)[1] for image in client.images.list(name=f"{stack}/{service}") for t in image.tags]
    return sorted(t for t in tags if not re.search(r"-[0-9a-f]{12}$", t))


def release_image(client: Any, stack: str, service: str, version: str) -> str:
    """The content tag of a built release, e.g. v2 -> devsim/app:v2-<id>."""
    try:
        image = client.images.get(f"{stack}/{service}:{version}")
    except ImageNotFound as exc:
        known = built_releases(client, stack, service)
        raise UsageError(f"no release {version!r} of {service} is built",
                         hint=f"built: {', '.join(known)}" if known else "`devsim up` builds every release") from exc
    except DockerException as exc:
        raise InfrastructureError(f"cannot read images: {exc}") from exc
    return f"{stack}/{service}:{version}-{image.id.split(':', 1)[-1][:12]}"


def _version_of(client: Any, image: str) -> str:
    try:
        labels = client.images.get(image.split("@")[0]).labels or {}
    except DockerException:
        return "?"
    return str(labels.get("devsim.version", "?"))


def _tasks(svc: Any) -> dict[str, tuple[int, str, str, str, str]]:
    """task id -> (slot, image, state, desired state, error) for every task Swarm keeps."""
    found = {}
    for task in svc.tasks():
        image = task["Spec"]["ContainerSpec"]["Image"].split("@")[0]
        found[task["ID"]] = (int(task.get("Slot", 0)), image, str(task["Status"]["State"]),
                             str(task.get("DesiredState", "")), str(task["Status"].get("Err", "")))
    return found


def _serving(svc: Any, image: str, replicas: int) -> bool:
    """Every replica runs `image` and no other task is still running."""
    running = [t for t in _tasks(svc).values() if t[2] == "running"]
    return len(running) == replicas and all(t[1] == image for t in running)


def deploy(stack: str, prometheus_url: str, version: str, policy: GuardPolicy | None,
           on_step: Callable[[str], None], on_watch: Callable[[str], None] | None = None, service: str = "app",
           timeout: float = 300.0, client: Any = None) -> DeployResult:
    """Rolls `service` to `version` and returns once it is live and watched, rolled back, or paused."""
    client = client or engine.connect()
    svc = _service(client, stack, service)
    spec = svc.attrs["Spec"]
    previous_image = spec["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
    previous = _version_of(client, previous_image)
    replicas = int(spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 1))
    target = release_image(client, stack, service, version)
    update = svc.attrs.get("UpdateStatus", {})
    if update.get("State") in ("updating", "rollback_started"):
        raise InfrastructureError(f"{service} is already {update['State'].replace('_', ' ')}",
                                  hint="wait for it to finish (`devsim status`)")
    if target == previous_image:
        return DeployResult("live", version, previous, f"{version} is already live", 0.0)
    guard = Guard(Prometheus(prometheus_url), version, policy) if policy else None
    before = update.get("StartedAt")
    on_step(f"rolling {service} from {previous} to {version} ({replicas} tasks, one at a time, start-first)"
            + ("" if guard else "; the deploy guard is off"))
    started = time.monotonic()
    seen = _tasks(svc)  # what ran before the update is not news
    engine.run(["docker", "service", "update", "--detach", "--image", target, svc.name], timeout=60)
    names = {previous_image: previous, target: version}
    reason, by, failure, restored, completed_at = "", "", "", None, None
    became_running: set[str] = set()
    while True:
        svc.reload()
        status = svc.attrs.get("UpdateStatus", {})
        state = str(status.get("State", "")) if status.get("StartedAt") != before else ""
        for task_id, task in sorted(_tasks(svc).items(), key=lambda kv: kv[1][0]):
            if seen.get(task_id) != task:
                seen[task_id] = task
                note = (f" (desired {task[3]})" if task[3] != "running" else "") + (f": {task[4]}" if task[4] else "")
                on_step(f"  task {service}.{task[0]} {names.get(task[1], task[1])}: {task[2]}{note}")
                if task[1] == target and task[2] == "running":
                    became_running.add(task_id)
                if task[1] == target and task[2] in ENDED and task_id not in became_running and not failure:
                    failure = (f"task {service}.{task[0]} of {version} {task[2]} before it became healthy"
                               + (f" ({task[4]})" if task[4] else ""))
        if guard and not reason and state in ("updating", "completed"):
            reason = guard.check()
            if on_watch:
                on_watch(f"guard on {version}: {guard.last.describe()}")
            if reason:
                by = _roll_back(svc, reason, on_step)
                continue
        if state == "completed" and not reason:
            completed_at = completed_at or time.monotonic()
            watched = guard is not None and time.monotonic() - completed_at >= guard.policy.watch_after_s
            if guard and watched and guard.no_verdict():
                reason = guard.no_verdict()
                by = _roll_back(svc, reason, on_step)
                continue
            if not guard or watched:
                return DeployResult("live", version, previous, f"{version} is live on {replicas} tasks"
                                    + (f"; the guard saw nothing wrong for {guard.policy.watch_after_s:g} s"
                                       if guard else ""), round(time.monotonic() - started, 2),
                                    guard=_guard_info(guard))
        if state.startswith("rollback") and _serving(svc, previous_image, replicas) and restored is None:
            restored = round(time.monotonic() - started, 2)
        if state == "rollback_completed" and restored is not None:
            if not by:
                by, reason = "swarm", f"Swarm rolled back: {failure or status.get('Message', '')}".strip()
            return DeployResult("rolled-back", version, previous, reason, round(time.monotonic() - started, 2),
                                restored, by, _guard_info(guard))
        if state in ("paused", "rollback_paused"):
            return DeployResult("paused", version, previous, f"Swarm {state.replace('_', ' ')} the update: "
                                f"{failure or status.get('Message', '')}".strip(), round(time.monotonic() - started, 2),
                                guard=_guard_info(guard))
        if time.monotonic() - started > timeout:
            raise InfrastructureError(f"the deploy of {version} did not finish within {timeout:g} s "
                                      f"(Swarm's state: {state or 'not started'})", hint="see `devsim status`")
        time.sleep(1.0)


def _roll_back(svc: Any, reason: str, on_step: Callable[[str], None]) -> str:
    """Asks Swarm to roll the service back to its previous spec; returns who decided it."""
    on_step(f"{reason}: rolling back")
    engine.run(["docker", "service", "rollback", "--detach", svc.name], timeout=60)
    return "guard"


def _guard_info(guard: Guard | None) -> dict[str, Any]:
    if guard is None:
        return {"enabled": False}
    return {"enabled": True, "policy": asdict(guard.policy), "queries": guard.queries,
            "last": asdict(guard.last)}
