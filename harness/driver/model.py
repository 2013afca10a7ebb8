"""What the harness reads from a container engine, as typed values (no engine objects)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Swarm's rolling-update states in which an update is still under way.
UPDATING = ("updating", "rollback_started")


@dataclass(frozen=True)
class TaskInfo:
    """One task (a replica's container, past or present) of a service."""

    id: str
    slot: int
    image: str  # without a digest
    state: str  # running, starting, complete, failed, shutdown, ...
    desired_state: str
    error: str = ""

    @property
    def running(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class ServiceInfo:
    """One service of the stack as the engine runs it now."""

    name: str  # short: app, db1
    full_name: str  # the engine's: devsim_app
    image: str  # without a digest
    replicas: int  # desired
    labels: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    update_config: Mapping[str, object] = field(default_factory=dict)  # Parallelism, Delay, Order, ...
    healthcheck: tuple[str, ...] | None = None  # the health check's command, None when unset
    published_ports: tuple[int, ...] = ()
    update_state: str = ""  # the rolling update's state, "" when none ever ran
    update_started: str | None = None  # when the last update started, None when none ever ran
    update_message: str = ""
    at_previous_spec: bool = False  # the spec equals the one before the last update (a no-op update)
    # The image `docker service rollback` would bring back, when the spec before the last
    # update differs from this one in its image only; None otherwise.
    rollback_image: str | None = None

    @property
    def updating(self) -> bool:
        return self.update_state in UPDATING


@dataclass(frozen=True)
class Containment:
    """What bounds a container, as the engine applies it (its HostConfig)."""

    cap_drop: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    read_only: bool = False  # its root filesystem
    memory: int = 0  # bytes; 0: no limit
    pids: int = 0  # 0: no limit
    nano_cpus: int = 0  # 0: no limit
    log_max_size: str = ""  # the json-file driver's rotation size; "": no rotation
    user: str = ""  # as the engine starts it ("": the image's)
    binds: tuple[str, ...] = ()  # the host paths bind-mounted into it


@dataclass(frozen=True)
class ContainerInfo:
    """One container: a running (or stopped) task of a service on this node, or a plain one."""

    id: str
    name: str
    service: str  # short service name
    created: str
    status: str = "running"  # running, paused, exited, created, ...
    health: str = ""  # healthy, unhealthy, starting; "" without a health check
    image: str = ""  # as the container was created from (a tag)
    image_id: str = ""
    paused: bool = False
    pid: int = 0  # of its first process on the host, 0 when not running
    ports: Mapping[str, str] = field(default_factory=dict)  # "8080/tcp" -> "127.0.0.1:8080"
    containment: Containment = field(default_factory=Containment)


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobSpec:
    """A one-off container that runs a command over some of the stack's volumes and goes:
    no network, a read-only root, every capability dropped but `cap_add`."""

    image: str
    command: tuple[str, ...]
    volumes: Mapping[str, str]  # volume name -> where it is mounted
    user: str = ""
    cap_add: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlainSpec:
    """One plain container to start (the development profile runs without Swarm)."""

    name: str  # the container's name
    image: str
    command: tuple[str, ...] | None
    environment: Mapping[str, str]
    ports: Mapping[str, tuple[str, int]]  # "8080/tcp" -> ("127.0.0.1", 8080)
    binds: Mapping[str, Mapping[str, str]]  # host folder or volume -> {"bind": path, "mode": ro|rw}
    healthcheck: Mapping[str, object] | None
    network: str
    aliases: tuple[str, ...]
    labels: Mapping[str, str]
    stop_signal: str | None = None
