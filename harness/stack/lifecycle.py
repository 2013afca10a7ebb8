"""`up` and `down`: deploy the stack, wait until it serves, and remove every trace of it."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from harness.config import Settings
from harness.driver import PortOps, StackDriver
from harness.driver.swarm import CLIENT_ENV
from harness.errors import InfrastructureError, NotReady, PortInUse
from harness.progress import Progress
from harness.stack import images, switches
from harness.stack.services import ServiceState, change_image, declared_images, declared_services, fill, stack_status
from harness.stack.target import TargetStack
from harness.stack.waiting import Check, Waiter


@dataclass(frozen=True)
class Deployment:
    """The result of `up`: what runs, and where to reach it."""

    services: tuple[ServiceState, ...]
    lb_url: str
    prometheus_url: str


def check_ports_free(driver: StackDriver, settings: Settings, target: TargetStack) -> None:
    """Before a first deploy: the published ports must not be held by something else."""
    ours = {s.name for s in stack_status(driver, settings)}
    for published in target.published(settings):
        if published.service in ours:
            continue  # our own running service holds it; a redeploy keeps it
        if not port_frees_up(published.port):
            raise PortInUse(f"port {published.port} is already in use on this host",
                            hint=f"free it or set {published.variable}")


def port_frees_up(port: int) -> bool:
    """Whether the port is free within 5 s: a stack or profile removed a moment ago may still
    hold its ports for a second or two."""
    return Waiter(5.0, 0.5).until(lambda: Check(port_is_free(port), f"port {port}")) is not None


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As a server would bind it: connections in TIME_WAIT do not make a port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def stack_env(settings: Settings, target: TargetStack, image_env: dict[str, str]) -> dict[str, str]:
    """The environment for `docker stack deploy`, which fills stack.yml's ${...} values:
    the images, the settings, and every declared switch (its default unless `--set`)."""
    env = {k: v for k, v in os.environ.items() if k in CLIENT_ENV}
    env.update(image_env)
    env["DEVSIM_STACK"] = settings.stack
    env.update(target.deploy_env(settings))
    env.update({name: s.default for name, s in switches.load(settings.stack_dir).items()})
    env.update(settings.stack_overrides)
    return env


def up(driver: StackDriver, settings: Settings, target: TargetStack, progress: Progress) -> Deployment:
    """Builds, deploys and waits until every service is healthy and the stack serves. The
    first pass rolls every change out at once and sets the runtime configuration; the
    second puts the update policy stack.yml and the switches say in place."""
    driver.check_engine()
    target.before_up(driver, settings, progress)
    check_ports_free(driver, settings, target)
    fence_ports(driver, settings, progress)
    image_env = images.build_images(driver, target.images(driver.stack), settings.stack_dir, progress)
    env = {**stack_env(settings, target, image_env), **target.prepare(driver, settings, progress)}
    progress.step(f"deploying stack {settings.stack!r} ({settings.replicas} app replicas)")
    driver.deploy(settings.stack_dir / "stack.yml", {**env, **target.fast_rollout()})
    put_back_images(driver, settings, env, progress)
    wait_until_healthy(driver, settings, target, progress, first=True)
    driver.deploy(settings.stack_dir / "stack.yml", env)
    wait_until_healthy(driver, settings, target, progress)
    target.after_up(driver, settings)
    remove_spent_containers(driver, progress)
    return Deployment(tuple(stack_status(driver, settings)), settings.lb_url, settings.prometheus_url)


def remove_spent_containers(driver: StackDriver, progress: Progress) -> int:
    """The stack's exited containers go once it is up again: the engine keeps a service's
    exited tasks, and each keeps its writable layer on the host's disk, with whatever an
    older release wrote there (the secret search reads those layers too). Their tasks, and
    the errors they ended with, stay in the engine's task history."""
    spent = [c for c in driver.plain_containers({}) if c.status in ("exited", "dead")]
    for container in spent:
        driver.remove_plain(container, grace_s=0)
    if spent:
        progress.step(f"removed {len(spent)} exited container{'s' if len(spent) != 1 else ''} of earlier tasks")
    return len(spent)


def fence_ports(driver: PortOps, settings: Settings, progress: Progress) -> None:
    """Before anything is published: the ports answer on loopback only, unless the user
    opted out with DEVSIM_BIND=0.0.0.0 (then an earlier fence goes)."""
    if settings.bind == "127.0.0.1":
        progress.step(f"published ports {', '.join(map(str, settings.published_ports))}: loopback only")
        driver.fence_ports(settings.published_ports)
    else:
        progress.warn(f"DEVSIM_BIND={settings.bind}: the published ports answer on every interface")
        driver.unfence_ports()


def put_back_images(driver: StackDriver, settings: Settings, env: dict[str, str], progress: Progress) -> list[str]:
    """Every service back on the image stack.yml names. `docker stack deploy` keeps an image
    that `docker service update --image` set (`devsim deploy v2`, an experiment cut short)
    when stack.yml's own image line has not changed, so without this `up` left v2 serving.
    `change_image` picks the engine's rollback when it can. Returns the services changed."""
    declared = declared_images(settings.stack_dir)
    changed = []
    for service in driver.services():
        wanted = fill(declared[service.name], env) if service.name in declared else service.image
        if service.image != wanted:
            progress.step(f"putting {service.name} back on {wanted} (it ran {service.image})")
            change_image(driver, service.name, wanted)
            changed.append(service.name)
    return changed


def wait_until_healthy(driver: StackDriver, settings: Settings, target: TargetStack, progress: Progress,
                       first: bool = False) -> None:
    """Every service healthy, then whatever the target stack waits for until it serves. With
    `first` (up's first pass) the target sets its runtime configuration from the switches."""
    waiter = Waiter(settings.up_timeout, settings.poll_interval)
    expected = declared_services(settings.stack_dir)

    def services_ready() -> Check:
        states = {s.name: s for s in stack_status(driver, settings)}
        waiting = [(f"{n} {states[n].ready}/{states[n].desired}" + (" updating" if states[n].updating else ""))
                   if n in states else f"{n} missing" for n in expected if n not in states or not states[n].healthy]
        return Check(not waiting, "waiting for " + ", ".join(waiting) if waiting else "services ready")

    progress.step("waiting for every service to be healthy")
    if waiter.until(services_ready, progress.update) is None:
        raise _not_ready(driver, settings, expected)
    target.wait_ready(driver, settings, progress, waiter, first)
    progress.done()


def _not_ready(driver: StackDriver, settings: Settings, expected: tuple[str, ...]) -> NotReady:
    states = {s.name: s for s in stack_status(driver, settings)}
    stuck = most_likely_cause(expected, states)
    first = stuck[0] if stuck else "?"
    state = states.get(first)
    reason = f"; last task error: {state.last_error}" if state and state.last_error else ""
    others = f"; also not healthy: {', '.join(stuck[1:])}" if len(stuck) > 1 else ""
    return NotReady(
        f"service {first!r} did not become healthy within {settings.up_timeout:.0f} s "
        f"({state.ready if state else 0}/{state.desired if state else '?'} ready{reason}){others}",
        hint=f"see `docker service logs {settings.stack}_{first}`",
        details=driver.logs(first),
    )


def most_likely_cause(expected: tuple[str, ...], states: dict[str, ServiceState]) -> list[str]:
    """The services not healthy, the likeliest cause first: one whose tasks exit on their own
    (a crash), then one whose tasks fail their health check (often waiting on the crashed
    one), then one missing or still starting; stack.yml order within each."""
    def rank(name: str) -> int:
        state = states.get(name)
        if state is None or not state.last_error:
            return 2
        return 1 if "unhealthy" in state.last_error else 0
    stuck = [n for n in expected if n not in states or not states[n].healthy]
    return sorted(stuck, key=rank)  # stable: file order within a rank


def down(driver: StackDriver, settings: Settings, target: TargetStack, progress: Progress,
         volumes: bool = False, keep: Sequence[str] = ()) -> list[str]:
    """Removes the stack and waits until none of its labelled objects remain.

    Returns what was removed, one line each kind. Fine when nothing is up. With `volumes`,
    every volume but those in `keep` (short names) goes, and the images of older builds too
    (the current ones stay, so the next `up` is warm).
    """
    removed: list[str] = []
    if services := driver.services():
        progress.step(f"removing stack {settings.stack!r} ({len(services)} services)")
        driver.remove(stop_last=target.stop_last)
        removed.append(f"{len(services)} services")
    removed += target.remove_extras(driver, settings, progress)
    waiter = Waiter(settings.down_timeout, 0.5)

    def gone() -> Check:
        left = driver.leftovers(volumes, keep)
        if left.get("networks") and not left.get("containers"):
            driver.remove_networks()
        if volumes and left.get("volumes") and not left.get("containers"):
            driver.remove_volumes(keep)
        if volumes and left.get("secrets") and not left.get("services"):
            driver.remove_secrets()
        left = {k: v for k, v in left.items() if v}
        if not left:
            return Check(True, "every labelled object is gone")
        return Check(False, "waiting for " + ", ".join(f"{v} {k}" for k, v in left.items()))

    if waiter.until(gone, progress.update) is None:
        left = driver.leftovers(volumes, keep)
        raise InfrastructureError(f"the stack was not gone after {settings.down_timeout:.0f} s: {left}")
    driver.unfence_ports()
    if volumes:
        progress.step("removing images of older builds")
        if outdated := images.remove_outdated(driver):
            removed.append(f"{outdated} outdated image tags")
    progress.done()
    return removed
