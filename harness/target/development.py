"""The development profile: target-stack/development.yml run as plain labelled containers.

Plain containers, not Swarm services, because Swarm publishes a port on every address of
the host and the profile's debugger must be reachable on 127.0.0.1 only. The file uses a
small subset of the Compose format (image, command, environment, ports, volumes,
healthcheck), read here rather than by docker-compose, which these machines do not have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.config import Settings
from harness.driver import PlainSpec, StackDriver
from harness.driver.model import ContainerInfo
from harness.errors import ConfigError, NotReady
from harness.progress import Progress
from harness.stack import services
from harness.stack.services import ServiceState, image_version
from harness.stack.waiting import Check, Waiter

FILE = "development.yml"
PROFILES = ("production", "development")
PROFILE_LABEL = "devsim.profile"
INSPECTOR_PORT = 9229


@dataclass(frozen=True)
class Service:
    """One container of the profile, its ${...} values filled in."""

    name: str
    image: str
    command: tuple[str, ...] | None
    environment: dict[str, str]
    ports: dict[str, tuple[str, int]]  # "8080/tcp" -> ("127.0.0.1", 8080)
    binds: dict[str, dict[str, str]]  # host folder or volume name -> {"bind": path, "mode": rw|ro}
    healthcheck: dict[str, Any] | None
    stop_signal: str | None = None


def fill(text: str, env: Mapping[str, str]) -> str:
    """${NAME} and ${NAME:-default}, as `docker stack deploy` fills them in stack.yml."""
    return services.fill(text, env, FILE)


def load(settings: Settings, env: Mapping[str, str]) -> list[Service]:
    """The profile's services, in file order (the order they start in)."""
    path = settings.stack_dir / FILE
    try:
        doc = yaml.safe_load(fill(path.read_text(), env))
        return [_service(settings, name, spec) for name, spec in doc["services"].items()]
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path} is not a valid development profile: {exc}") from exc


def _service(settings: Settings, name: str, spec: dict[str, Any]) -> Service:
    ports: dict[str, tuple[str, int]] = {}
    for entry in spec.get("ports", []):
        host_ip, host_port, target = str(entry).split(":")
        ports[f"{target}/tcp"] = (host_ip, int(host_port))
    binds: dict[str, dict[str, str]] = {}
    for entry in spec.get("volumes", []):
        source, target, *mode = str(entry).split(":")
        key = str((settings.stack_dir / source).resolve()) if source.startswith(".") else volume_name(settings, source)
        binds[key] = {"bind": target, "mode": mode[0] if mode else "rw"}
    health = spec.get("healthcheck")
    check = None
    if health:
        seconds = float(str(health.get("interval", "2")).rstrip("s"))
        check = {"test": list(health["test"]), "interval": int(seconds * 1e9), "timeout": int(2e9),
                 "retries": 3, "start_period": int(30e9)}
    command = spec.get("command")
    return Service(name, str(spec["image"]), tuple(map(str, command)) if command else None,
                   {k: str(v) for k, v in (spec.get("environment") or {}).items()}, ports, binds, check,
                   spec.get("stop_signal"))


def volume_name(settings: Settings, name: str) -> str:
    return f"{settings.stack}_{name}"


def container_name(settings: Settings, service: str) -> str:
    return f"{settings.stack}_dev_{service}"


PROFILE = {PROFILE_LABEL: "development"}


def containers(driver: StackDriver) -> list[ContainerInfo]:
    """The profile's containers now, running or not; the last started first."""
    return driver.plain_containers(PROFILE)


def remove(driver: StackDriver, settings: Settings, progress: Progress) -> int:
    """Stops and removes the profile's containers, the last started first (the app before
    its database); volumes stay. Returns how many."""
    found = containers(driver)
    if found:
        progress.step(f"removing the development profile ({len(found)} containers)")
    for container in found:
        driver.remove_plain(container, grace_s=5)
    return len(found)


def start(driver: StackDriver, settings: Settings, services: list[Service], progress: Progress) -> None:
    """Creates the network and volumes when missing, and one container per service."""
    network = f"{settings.stack}_dev"
    driver.ensure_network(network, PROFILE)
    for service in services:
        for source in service.binds:
            if not source.startswith("/"):
                driver.ensure_volume(source, PROFILE)
    for service in services:
        progress.step(f"starting {service.name}")
        driver.run_plain(PlainSpec(
            name=container_name(settings, service.name), image=service.image, command=service.command,
            environment=service.environment, ports=service.ports, binds=service.binds,
            healthcheck=service.healthcheck, network=network, aliases=(service.name, f"tasks.{service.name}"),
            labels={**PROFILE, "devsim.service": service.name}, stop_signal=service.stop_signal))


def status(driver: StackDriver, settings: Settings) -> list[ServiceState]:
    """Each of the profile's containers as a service of one replica, ready when healthy."""
    states = []
    for container in reversed(containers(driver)):  # in the order they were started
        ready = int(container.status == "running" and container.health in ("", "healthy"))
        endpoints = tuple(f"http://{binding}" for binding in container.ports.values())
        error = "" if ready else container.status + (f", {container.health}" if container.health else "")
        states.append(ServiceState(container.service, 1, ready, container.image,
                                   image_version(driver, container.image), endpoints, error))
    return states


def wait_until_serving(driver: StackDriver, settings: Settings, progress: Progress,
                       app_serves: Callable[[], bool], app_scraped: Callable[[], bool]) -> None:
    """Every container healthy, the app answering on its port and Prometheus scraping it."""
    waiter = Waiter(settings.up_timeout, settings.poll_interval)

    def ready() -> Check:
        states = status(driver, settings)
        waiting = [f"{s.name} ({s.last_error})" for s in states if not s.healthy]
        if waiting:
            return Check(False, "waiting for " + ", ".join(waiting))
        serves, scraped = app_serves(), app_scraped()
        return Check(serves and scraped, f"app /health: {'200' if serves else 'not yet'}; "
                                         f"Prometheus scrapes the app: {'yes' if scraped else 'not yet'}")

    progress.step("waiting for the development profile to serve")
    if waiter.until(ready, progress.update) is None:
        stuck = [s.name for s in status(driver, settings) if not s.healthy] or ["app"]
        raise NotReady(f"the development profile did not serve within {settings.up_timeout:.0f} s: "
                       f"{ready().status}", hint=f"see `docker logs {container_name(settings, stuck[0])}`",
                       details=driver.plain_logs(container_name(settings, stuck[0])))
    progress.done()


def runs(driver: StackDriver) -> bool:
    """Whether the development profile's containers exist (else the production stack runs, or nothing)."""
    return bool(containers(driver))


def app_source(settings: Settings) -> Path:
    return settings.stack_dir / "app"
