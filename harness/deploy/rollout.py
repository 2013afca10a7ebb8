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

from harness.deploy.guard import Guard, GuardPolicy
from harness.driver import StackDriver
from harness.errors import InfrastructureError, UsageError
from harness.metrics.prometheus import Prometheus
from harness.stack import services
from harness.stack.services import image_version, other_images_running
from harness.stack.waiting import Check, Waiter

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
    replicas_while_updating: int | None = None  # the most the service had while the engine rolled it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def built_releases(driver: StackDriver, service: str) -> list[str]:
    """Release tags (v1, v2, v2-crash, ...), without the content tags (v1-<image id>)."""
    tags = [t.split(":", 1)[1] for image in driver.images(repo=f"{driver.stack}/{service}") for t in image.tags]
    return sorted(t for t in tags if not re.search(r"-[0-9a-f]{12}$", t))


def release_image(driver: StackDriver, service: str, version: str) -> str:
    """The content tag of a built release, e.g. v2 -> devsim/app:v2-<id>."""
    image = driver.image(f"{driver.stack}/{service}:{version}")
    if image is None:
        known = built_releases(driver, service)
        raise UsageError(f"no release {version!r} of {service} is built",
                         hint=f"built: {', '.join(known)}" if known else "`devsim up` builds every release")
    return f"{driver.stack}/{service}:{version}-{image.id.split(':', 1)[-1][:12]}"


Task = tuple[int, str, str, str, str]  # slot, image, state, desired state, error


def _tasks(driver: StackDriver, service: str) -> dict[str, Task]:
    """task id -> (slot, image, state, desired state, error) for every task the engine keeps."""
    return {t.id: (t.slot, t.image, t.state, t.desired_state, t.error) for t in driver.tasks(service)}


def _serving(driver: StackDriver, service: str, image: str, replicas: int) -> bool:
    """Every replica runs `image` and no task of another image is still running."""
    tasks = driver.tasks(service)
    return sum(t.running for t in tasks) == replicas and not other_images_running(tasks, image)


def deploy(driver: StackDriver, prometheus_url: str, version: str, policy: GuardPolicy | None,
           on_step: Callable[[str], None], on_watch: Callable[[str], None] | None = None, *, service: str,
           timeout: float = 300.0, waiter: Waiter | None = None) -> DeployResult:
    """Rolls `service` to `version` and returns once it is live and watched, rolled back, or paused.
    Ctrl-C aborts the deploy, which rolls it back."""
    svc = driver.service(service)
    previous_image = svc.image
    previous = image_version(driver, previous_image)
    replicas = svc.replicas
    target = release_image(driver, service, version)
    if svc.updating:
        raise InfrastructureError(f"{service} is already {svc.update_state.replace('_', ' ')}",
                                  hint="wait for it to finish (`devsim status`)")
    if target == previous_image:
        return DeployResult("live", version, previous, f"{version} is already live", 0.0)
    guard = Guard(Prometheus(prometheus_url), version, policy) if policy else None
    on_step(f"rolling {service} from {previous} to {version} ({replicas} tasks, one at a time, start-first)"
            + ("" if guard else "; the deploy guard is off"))
    watch = _Watch(driver, service, version, previous, previous_image, target, replicas, guard, on_step, on_watch,
                   before=svc.update_started, seen=_tasks(driver, service))  # what ran before is not news
    driver.update(service, image=target)
    results: list[DeployResult] = []

    def finished() -> Check:
        result = watch.poll()
        if result is not None:
            results.append(result)
        return Check(result is not None, watch.state or "not started")

    try:
        if (waiter or Waiter(timeout, 1.0)).until(finished) is None:
            raise InfrastructureError(f"the deploy of {version} did not finish within {timeout:g} s "
                                      f"(Swarm's state: {watch.state or 'not started'})", hint="see `devsim status`",
                                      details=driver.logs(service))
    except KeyboardInterrupt:
        watch.abort()
        raise
    return results[-1]


@dataclass
class _Watch:
    """Follows one rollout: reports each task's progress, runs the guard, decides the outcome."""

    driver: StackDriver
    service: str
    version: str
    previous: str
    previous_image: str
    target: str
    replicas: int
    guard: Guard | None
    on_step: Callable[[str], None]
    on_watch: Callable[[str], None] | None
    before: str | None
    seen: dict[str, Task]
    started: float = field(default_factory=time.monotonic)
    state: str = ""
    reason: str = ""
    by: str = ""  # who decided the rollback: swarm or guard
    failure: str = ""  # the first new task that ended before it became healthy
    restored: float | None = None
    completed_at: float | None = None
    became_running: set[str] = field(default_factory=set)
    replicas_while_updating: int = 0  # the most replicas the service had while Swarm updated it

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def _report_tasks(self) -> None:
        names = {self.previous_image: self.previous, self.target: self.version}
        for task_id, task in sorted(_tasks(self.driver, self.service).items(), key=lambda kv: kv[1][0]):
            if self.seen.get(task_id) == task:
                continue
            self.seen[task_id] = task
            slot, image, state, desired, error = task
            note = (f" (desired {desired})" if desired != "running" else "") + (f": {error}" if error else "")
            self.on_step(f"  task {self.service}.{slot} {names.get(image, image)}: {state}{note}")
            if image == self.target and state == "running":
                self.became_running.add(task_id)
            if image == self.target and state in ENDED and task_id not in self.became_running and not self.failure:
                self.failure = (f"task {self.service}.{slot} of {self.version} {state} before it became healthy"
                                + (f" ({error})" if error else ""))

    def _roll_back(self, reason: str) -> None:
        self.reason, self.by = reason, _roll_back(self.driver, self.service, self.previous_image, reason,
                                                  self.on_step)

    def abort(self) -> None:
        """Ctrl-C: roll back, unless a rollback is already under way (rolling back twice would
        bring the new release back: Swarm's previous spec is then the new one)."""
        if not self.by and not self.state.startswith("rollback"):
            self._roll_back(f"interrupted: the deploy of {self.version} is aborted")

    def poll(self) -> DeployResult | None:
        now = self.driver.service(self.service)
        state = now.update_state if now.update_started != self.before else ""
        if not state and self.state in ("updating", "completed") and now.image == self.target and (
                self.state == "completed" or _serving(self.driver, self.service, self.target, now.replicas)):
            # a change of the replica count alone (the autoscaler's) clears the engine's update
            # status: the rollout it replaced had completed, every task runs the release
            state = "completed"
        self.state = state
        if state == "updating":
            self.replicas_while_updating = max(self.replicas_while_updating, now.replicas)
        self._report_tasks()
        guard = self.guard
        if guard and not self.reason and state in ("updating", "completed"):
            breach = guard.check()
            if self.on_watch:
                self.on_watch(f"guard on {self.version}: {guard.last.describe()}")
            if breach:
                self._roll_back(breach)
                return None
        if state == "completed" and not self.reason:
            self.completed_at = self.completed_at or time.monotonic()
            watched = guard is not None and time.monotonic() - self.completed_at >= guard.policy.watch_after_s
            if guard and watched and guard.no_verdict():
                self._roll_back(guard.no_verdict())
                return None
            if not guard or watched:
                checked = f"; the guard saw nothing wrong for {guard.policy.watch_after_s:g} s" if guard else ""
                return DeployResult("live", self.version, self.previous,
                                    f"{self.version} is live on {now.replicas} tasks{checked}", self.elapsed(),
                                    guard=_guard_info(guard),
                                    replicas_while_updating=self.replicas_while_updating or None)
        # back on the previous release: the engine's rollback, or the guard's update back to the
        # recorded image (when the service changed since the deploy, e.g. the autoscaler scaled it)
        back = state.startswith("rollback") or (self.by == "guard" and now.image == self.previous_image)
        if back and self.restored is None and _serving(self.driver, self.service, self.previous_image, now.replicas):
            self.restored = self.elapsed()
        if (state == "rollback_completed" or (back and state == "completed")) and self.restored is not None:
            if not self.by:
                self.by = "swarm"
                self.reason = f"Swarm rolled back: {self.failure or now.update_message}".strip()
            return DeployResult("rolled-back", self.version, self.previous, self.reason, self.elapsed(),
                                self.restored, self.by, _guard_info(guard),
                                replicas_while_updating=self.replicas_while_updating or None)
        if state in ("paused", "rollback_paused"):
            why = self.failure or now.update_message
            return DeployResult("paused", self.version, self.previous,
                                f"Swarm {state.replace('_', ' ')} the update: {why}".strip(), self.elapsed(),
                                guard=_guard_info(guard))
        return None


def _roll_back(driver: StackDriver, service: str, previous_image: str, reason: str,
               on_step: Callable[[str], None]) -> str:
    """Puts the release the deploy replaced back; returns who decided it. The engine's rollback
    when the service's previous spec is that release with nothing else changed; otherwise an
    update to the recorded image: after the autoscaler scaled the service, the previous spec
    is the release at the old replica count, and a rollback would undo the scale instead."""
    on_step(f"{reason}: rolling back")
    if not services.change_image(driver, service, previous_image):
        on_step(f"  the service changed since the deploy: an update back to {previous_image}, not the engine's "
                "rollback (which would undo that change instead)")
    return "guard"


def _guard_info(guard: Guard | None) -> dict[str, Any]:
    if guard is None:
        return {"enabled": False}
    return {"enabled": True, "policy": asdict(guard.policy), "queries": guard.queries,
            "last": asdict(guard.last)}
