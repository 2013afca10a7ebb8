"""Faults on a service's tasks: kill, pause, stop (scale to 0), restart, roll to another image."""

from __future__ import annotations

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from harness.chaos import engine, registry
from harness.chaos.engine import activity
from harness.deploy import rollout
from harness.stack import services
from harness.stack.waiting import Check, Waiter

SCALED_FROM = "devsim.chaos.replicas"


@registry.fault(undo="wait_until_converged")  # the engine replaces the tasks
@activity
def kill_tasks(service: str, count: int = 1, signal: str = "SIGKILL", configuration: Configuration = None) -> list[str]:
    """Kills `count` running task containers of a service with `signal`; the engine replaces them."""
    driver = engine.driver(configuration)
    victims = engine.pick(driver.containers(service), count)
    for container in victims:
        driver.kill(container, signal)
    return [c.name for c in victims]


@registry.fault(undo="unpause_service", net=True)
@activity
def pause_service(service: str, count: int = 0, configuration: Configuration = None) -> list[str]:
    """Freezes `count` (0: all) task containers of a service (SIGSTOP through the cgroup freezer)."""
    driver = engine.driver(configuration)
    running = driver.containers(service)
    victims = running if count == 0 else engine.pick(running, count)
    for container in victims:
        driver.pause(container)
    return [c.name for c in victims]


@registry.undo
@activity
def unpause_service(service: str, configuration: Configuration = None) -> list[str]:
    driver = engine.driver(configuration)
    resumed = []
    for container in driver.containers(service, running_only=False):
        if driver.inspect(container).paused:
            driver.unpause(container)
            resumed.append(container.name)
    return resumed


@registry.fault(undo="restore_service", net=True)
@activity
def stop_service(service: str, configuration: Configuration = None) -> int:
    """Scales a service to 0, remembering its replicas in a service label; returns them."""
    driver = engine.driver(configuration)
    svc = driver.service(service)
    if svc.replicas == 0:
        return int(svc.labels.get(SCALED_FROM, 0))
    driver.update(service, add_labels={SCALED_FROM: str(svc.replicas)}, replicas=0)
    return svc.replicas


def stopped(service: str, configuration: Configuration = None) -> bool:
    """Whether `stop_service` scaled the service down and nothing has scaled it back."""
    return SCALED_FROM in engine.driver(configuration).service(service).labels


@registry.undo
@activity
def restore_service(service: str, timeout: float = 90, configuration: Configuration = None) -> int:
    """Scales a stopped service back to the replicas it had; waits until they run."""
    driver = engine.driver(configuration)
    saved = driver.service(service).labels.get(SCALED_FROM)
    if saved is not None:
        driver.update(service, remove_labels=[SCALED_FROM], replicas=int(saved))
    return wait_until_converged(service, timeout, configuration)


@registry.fault(undo="wait_until_converged")
@activity
def restart_service(service: str, configuration: Configuration = None) -> str:
    """A rolling restart of every task, with the service's own update policy."""
    driver = engine.driver(configuration)
    driver.update(service, force=True)
    return driver.service(service).full_name


@registry.undo
@activity
def wait_until_converged(service: str, timeout: float = 90, configuration: Configuration = None) -> int:
    """Waits until the service runs as many tasks as it wants; returns that number."""
    driver = engine.driver(configuration)

    def converged() -> Check:
        want = driver.service(service).replicas
        running = sum(1 for task in driver.tasks(service, desired_running=True) if task.running)
        return Check(running == want, f"{service}: {running}/{want} tasks running")

    last = Waiter(float(timeout), 0.5).until(converged)
    if last is None:
        raise engine.timed_out(f"{converged().status} after {timeout:g} s", driver.logs(service))
    return driver.service(service).replicas


@activity
def image_for(stack: str, service: str, version: str, configuration: Configuration = None) -> str:
    """The content tag of a built release, e.g. devsim/app:v2 -> devsim/app:v2-<id>."""
    return rollout.release_image(engine.driver({**(configuration or {}), "devsim_stack": stack}), service, version)


@registry.fault(undo="roll_service")  # back to the release it replaced
@activity
def roll_service(service: str, version: str = "", image: str = "", env: dict[str, str] | None = None,
                 timeout: float = 240, configuration: Configuration = None) -> str:
    """A rolling update to another release (or image, or environment), waited for.

    Back to the release the last update replaced (the undo of a roll or a deploy), it is the
    engine's own rollback instead: the service's rollback policy (every task at once,
    start-first) rather than its rollout's (one task at a time, 10 s apart), so an undo takes
    seconds, not a rollout's minute.

    Returns the engine's final update state: completed, or rollback_completed when the
    service's own failure action rolled it back.
    """
    driver = engine.driver(configuration)
    svc = driver.service(service)
    if version:
        image = rollout.release_image(driver, service, version)
    if not image and not env:
        raise ActivityFailed("roll_service needs a version, an image or env")
    if image and image == svc.image and not env:
        return "unchanged"  # the engine would not start an update; nothing to wait for
    if env:
        undo = False
        driver.update(service, image=image, env=env)
    else:
        undo = services.change_image(driver, service, image)

    def finished() -> Check:
        now = driver.service(service)
        if now.update_started != svc.update_started and now.update_state in ("paused", "rollback_paused"):
            return Check(True, now.update_state)
        done = now.update_started != svc.update_started and now.update_state in ("completed", "rollback_completed")
        if not done and not (now.update_started is None and now.at_previous_spec):
            return Check(False, f"state {now.update_state!r}")
        # finished only when none of another image runs (CI once read v2-errors answers right
        # after the undo, from a replaced task still draining)
        left = services.other_images_running(driver.tasks(service), now.image)
        if left:
            return Check(False, f"a task of {', '.join(left)} still running")
        return Check(True, now.update_state if done else "completed")

    last = Waiter(float(timeout), 1.0).until(finished)
    if last is None:
        raise engine.timed_out(f"rolling update of {service} not finished after {timeout:g} s ({finished().status})",
                               driver.logs(service))
    return "completed" if undo and last.status == "rollback_completed" else last.status
