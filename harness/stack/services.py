"""What the stack's services are doing now: replicas, images, versions, endpoints."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.config import Settings
from harness.driver import ServiceInfo, StackDriver, TaskInfo
from harness.driver.model import UPDATING
from harness.errors import ConfigError, HarnessError
from harness.stack import switches
from harness.stack.switches import Switch


@dataclass(frozen=True)
class ServiceState:
    name: str
    desired: int
    ready: int
    image: str
    version: str
    endpoints: tuple[str, ...]
    last_error: str = ""
    update_state: str = ""  # the engine's rolling update state, "" when none ever ran

    @property
    def updating(self) -> bool:
        return self.update_state in UPDATING

    @property
    def healthy(self) -> bool:
        return self.ready == self.desired and not self.updating

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["endpoints"] = list(self.endpoints)
        data["healthy"] = self.healthy
        return data


def declared_services(stack_dir: Path) -> tuple[str, ...]:
    """The service names stack.yml declares, in file order."""
    path = stack_dir / "stack.yml"
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot read {path}: {reason}") from exc
    return tuple(doc.get("services", {}))


def declared_images(stack_dir: Path) -> dict[str, str]:
    """Each service's `image:` as stack.yml writes it, e.g. app -> ${APP_IMAGE:-devsim/app:v1}."""
    doc = yaml.safe_load((stack_dir / "stack.yml").read_text())
    return {str(name): str(spec["image"]) for name, spec in (doc.get("services") or {}).items()
            if isinstance(spec, dict) and "image" in spec}


def service_state(driver: StackDriver, service: ServiceInfo, https_ports: tuple[int, ...] = ()) -> ServiceState:
    tasks = driver.tasks(service.name)
    ready = sum(1 for t in tasks if t.desired_state == "running" and t.running)
    errors = [t.error for t in tasks if t.error]
    endpoints = tuple(f"{'https' if port in https_ports else 'http'}://127.0.0.1:{port}"
                      for port in service.published_ports)
    return ServiceState(service.name, service.replicas, ready, service.image, image_version(driver, service.image),
                        endpoints, errors[0] if errors else "", service.update_state)


def image_version(driver: StackDriver, image: str) -> str:
    """The release an image carries (its devsim.version label), e.g. v1 or v2-crash."""
    try:
        found = driver.image(image)
    except HarnessError:
        found = None
    if found is None:
        return "?"
    return str(found.labels.get("devsim.version", image.rsplit(":", 1)[-1].split("-")[0]))


def stack_status(driver: StackDriver, settings: Settings) -> list[ServiceState]:
    """Every service of the stack, in stack.yml order."""
    order = {name: i for i, name in enumerate(declared_services(settings.stack_dir))}
    states = [service_state(driver, s, (settings.lb_tls_port,)) for s in driver.services()]
    return sorted(states, key=lambda s: (order.get(s.name, len(order)), s.name))


def running_versions(driver: StackDriver, settings: Settings) -> dict[str, str]:
    """The versioned services' versions now (the app's release), for reports; {} when unknown."""
    try:
        return {s.name: s.version for s in stack_status(driver, settings) if s.version != "latest"}
    except HarnessError:
        return {}


def running_switches(driver: StackDriver, settings: Settings,
                     elsewhere: Callable[[Switch], str | None]) -> dict[str, str | None]:
    """Each declared switch's value as the running stack carries it (None where unknown):
    from the services' specs, and the rest as the target stack's reader (`elsewhere`) reads it."""
    return switches.read_back(switches.load(settings.stack_dir), {s.name: s for s in driver.services()}, elsewhere)


_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::-(?P<default>[^}]*))?\}")


def fill(text: str, env: Mapping[str, str], source: str = "stack.yml") -> str:
    """${NAME} and ${NAME:-default}, as `docker stack deploy` fills them in stack.yml."""
    def one(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in env:
            return env[name]
        if default is None:
            raise ConfigError(f"{source} needs ${{{name}}}, which the harness does not set")
        return default
    return _VAR.sub(one, text)


def change_image(driver: StackDriver, service: str, image: str) -> bool:
    """Starts the service's move to `image`: the engine's rollback when `image` is the one the
    last update replaced and nothing else changed since (the service's rollback policy: every
    task at once, start-first; seconds, not a rollout's minute), else a rolling update.
    Returns whether it was the rollback."""
    if driver.service(service).rollback_image == image:
        driver.rollback(service)
        return True
    driver.update(service, image=image)
    return False


def other_images_running(tasks: Sequence[TaskInfo], image: str) -> list[str]:
    """The images, other than `image`, of the tasks still running, sorted. The engine calls an
    update complete once the new tasks run, while a replaced task may still drain (and serve
    through the load balancer) for a while: a move to `image` is over when this is empty."""
    return sorted({t.image for t in tasks if t.running and t.image != image})
