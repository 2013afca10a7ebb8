"""What the stack's Swarm services are doing now: replicas, images, versions, endpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from docker.errors import DockerException, ImageNotFound

from harness.config import Settings
from harness.errors import ConfigError, HarnessError, InfrastructureError
from harness.stack import patroni, switches


@dataclass(frozen=True)
class ServiceState:
    name: str
    desired: int
    ready: int
    image: str
    version: str
    endpoints: tuple[str, ...]
    last_error: str = ""
    update_state: str = ""  # Swarm's rolling update state, "" when none ever ran

    @property
    def updating(self) -> bool:
        return self.update_state in ("updating", "rollback_started")

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


def labelled_services(client: Any, settings: Settings) -> list[Any]:
    try:
        return list(client.services.list(filters={"label": settings.label}))
    except DockerException as exc:
        raise InfrastructureError(f"cannot list Swarm services: {exc}") from exc


def short_name(settings: Settings, full: str) -> str:
    prefix = f"{settings.stack}_"
    return full[len(prefix):] if full.startswith(prefix) else full


def service_state(client: Any, settings: Settings, service: Any) -> ServiceState:
    spec = service.attrs["Spec"]
    desired = int(spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 1))
    tasks = service.tasks(filters={"desired-state": "running"})
    ready = sum(1 for t in tasks if t["Status"]["State"] == "running")
    errors = [t["Status"].get("Err", "") for t in service.tasks() if t["Status"].get("Err")]
    image = spec["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
    name = short_name(settings, spec["Name"])
    endpoints = tuple(
        f"http://127.0.0.1:{int(p['PublishedPort'])}"
        for p in spec.get("EndpointSpec", {}).get("Ports", []) if p.get("PublishedPort")
    )
    return ServiceState(name, desired, ready, image, image_version(client, image), endpoints,
                        errors[0] if errors else "", str(service.attrs.get("UpdateStatus", {}).get("State", "")))


def image_version(client: Any, image: str) -> str:
    """The release an image carries (its devsim.version label), e.g. v1 or v2-crash."""
    try:
        labels = client.images.get(image).labels or {}
    except (ImageNotFound, DockerException):
        return "?"
    return str(labels.get("devsim.version", image.rsplit(":", 1)[-1].split("-")[0]))


def stack_status(client: Any, settings: Settings) -> list[ServiceState]:
    """Every labelled service of the stack, in stack.yml order."""
    order = {name: i for i, name in enumerate(declared_services(settings.stack_dir))}
    states = [service_state(client, settings, s) for s in labelled_services(client, settings)]
    return sorted(states, key=lambda s: (order.get(s.name, len(order)), s.name))


def service_logs(client: Any, settings: Settings, name: str, lines: int = 15) -> list[str]:
    """The last log lines of a service's tasks, for error messages."""
    try:
        service = client.services.get(f"{settings.stack}_{name}")
        raw = b"".join(service.logs(stdout=True, stderr=True, tail=lines, timestamps=False))
    except DockerException:
        return []
    return raw.decode("utf-8", "replace").strip().splitlines()[-lines:]


def running_versions(client: Any, settings: Settings) -> dict[str, str]:
    """The versioned services' versions now (the app's release), for reports; {} when unknown."""
    try:
        return {s.name: s.version for s in stack_status(client, settings) if s.version != "latest"}
    except HarnessError:
        return {}


def running_switches(client: Any, settings: Settings, patroni_config: dict[str, Any] | None) -> dict[str, str | None]:
    """Each declared switch's value as the running stack carries it (None where unknown)."""
    specs = {short_name(settings, s.attrs["Spec"]["Name"]): s.attrs["Spec"]
             for s in labelled_services(client, settings)}
    return switches.read_back(switches.load(settings.stack_dir), specs, patroni_config, patroni.TIMINGS)
