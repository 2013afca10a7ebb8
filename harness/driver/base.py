"""The seam between the harness and a container engine: what the harness asks of it.

`SwarmDriver` (Docker Swarm, one node) implements it; `docs/drivers.md` maps each
operation to Kubernetes. Nothing outside `harness.driver` imports the Docker SDK or runs
the docker CLI: modules ask a driver, and unit tests hand them a fake one.

Services are named by their short name (`app`, `db1`); how the engine names them
(`devsim_app`) and which label marks them the stack's are the driver's business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from harness.driver.model import ContainerInfo, ImageInfo, JobSpec, PlainSpec, ServiceInfo, TaskInfo

# Every exec into a container ends: a psql against a frozen database, a curl into a dropped
# network would otherwise hold the command forever. The longest the harness runs is a full
# backup of the small database (seconds); 300 s leaves room for a slow machine.
EXEC_TIMEOUT_S = 300.0
TIMED_OUT = 124  # the exit code of a timed-out exec, as coreutils' timeout(1) gives it


class StackOps(Protocol):
    """The stack as a whole: deploy, remove, what is left."""

    @property
    def stack(self) -> str: ...

    def check_engine(self) -> None:
        """Raises EngineUnavailable unless the engine answers and can run the stack."""

    def deploy(self, stack_file: Path, env: Mapping[str, str]) -> None:
        """Creates or updates every service the stack file declares (and removes others)."""

    def remove(self, stop_last: Sequence[str] = ()) -> int:
        """Removes every service and stops its containers (`stop_last` after the rest);
        returns how many services there were."""

    def leftovers(self, volumes: bool, keep: Sequence[str] = ()) -> dict[str, int]:
        """How many of the stack's services, containers, networks (and volumes and secrets)
        remain; a volume in `keep` (short names) is not counted."""

    def remove_networks(self) -> None: ...

    def volumes(self) -> list[str]:
        """The engine's names of the stack's volumes."""

    def remove_volumes(self, keep: Sequence[str] = ()) -> None:
        """Removes the stack's volumes but those in `keep` (short names, e.g. backup-repo2)."""


class SecretOps(Protocol):
    """Secrets and configs, kept by the engine and mounted into services as files."""

    @property
    def stack(self) -> str: ...

    def secrets(self) -> dict[str, str]:
        """{short name: the engine's name} of the stack's secrets."""

    def create_secret(self, name: str, value: str) -> str:
        """Stores a new secret; returns the engine's name for it."""

    def remove_secrets(self) -> None:
        """Removes the stack's secrets and configs that no service uses."""

    def configs(self) -> dict[str, tuple[str, str]]:
        """{short name: (the engine's name, its content)} of the stack's configs (public files)."""

    def create_config(self, name: str, value: str) -> str:
        """Stores a new config; returns the engine's name for it."""

    def remove_secret(self, name: str) -> None:
        """Removes one secret by short name; one still in use stays."""

    def remove_config(self, name: str) -> None:
        """Removes one config by short name; one still in use stays."""

    def records(self) -> dict[str, str]:
        """What anyone allowed to ask the engine can read of the stack, by where: each
        service's, container's and image's inspect output, each container's log, the
        arguments of every process in each running container, and every file written to
        each container's writable layer (on the host's disk; exited containers too)."""


class ServiceOps(Protocol):
    """Services and their tasks: state, rolling updates, logs."""

    @property
    def stack(self) -> str: ...

    def services(self) -> list[ServiceInfo]: ...

    def service(self, name: str) -> ServiceInfo:
        """Raises NoSuchService when the stack has none by that name."""

    def tasks(self, service: str, desired_running: bool = False) -> list[TaskInfo]: ...

    def update(self, service: str, *, image: str = "", env: Mapping[str, str] | None = None,
               replicas: int | None = None, add_labels: Mapping[str, str] | None = None,
               remove_labels: Sequence[str] = (), force: bool = False) -> None:
        """Starts a rolling update (or a scale) and returns without waiting for it."""

    def rollback(self, service: str) -> None:
        """Starts a rollback to the service's previous spec."""

    def logs(self, service: str, lines: int = 15) -> list[str]:
        """The last log lines of the service's tasks ([] when unreadable)."""


class ContainerOps(Protocol):
    """The task containers on this node: signals, pause, exec."""

    @property
    def stack(self) -> str: ...

    def containers(self, service: str, running_only: bool = True) -> list[ContainerInfo]:
        """Newest first."""

    def kill(self, container: ContainerInfo, signal: str) -> None: ...

    def pause(self, container: ContainerInfo) -> None: ...

    def unpause(self, container: ContainerInfo) -> None: ...

    def inspect(self, container: ContainerInfo) -> ContainerInfo:
        """The container as it is now (paused, pid)."""

    def exec(self, container: ContainerInfo, argv: Sequence[str], user: str = "",
             detach: bool = False, timeout: float = EXEC_TIMEOUT_S) -> tuple[int, str]:
        """Runs argv inside the container; (exit code, output). Detached: (0, ""). A process
        still running after `timeout` seconds is killed: (TIMED_OUT, why)."""

    def in_netns(self, container: ContainerInfo, argv: Sequence[str]) -> str:
        """Runs a host tool (iptables) in the container's network namespace; its stdout."""


class ImageOps(Protocol):
    """Images: look up, build, tag, remove."""

    @property
    def stack(self) -> str: ...

    def image(self, ref: str) -> ImageInfo | None: ...

    def images(self, repo: str = "", built_by_stack: bool = False) -> list[ImageInfo]: ...

    def pull(self, ref: str) -> None: ...

    def import_rootfs(self, rootfs: Path, ref: str) -> None: ...

    def build(self, context: Path, tag: str, build_args: Mapping[str, str], labels: Mapping[str, str],
              on_step: Callable[[str], None]) -> str:
        """Builds an image; returns its id. Raises BuildFailed naming the failing step."""

    def tag(self, image_id: str, ref: str) -> None: ...

    def remove_image(self, ref: str) -> bool:
        """Whether it went: False when it was gone already or a container still uses it."""


class PlainOps(Protocol):
    """Containers outside any service (the development profile)."""

    @property
    def stack(self) -> str: ...

    def plain_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        """The stack's containers outside any service that carry `labels`, newest first."""

    def run_plain(self, spec: PlainSpec) -> None:
        """Creates and starts one container (its network and volumes exist)."""

    def remove_plain(self, container: ContainerInfo, grace_s: int = 5) -> None: ...

    def run_job(self, spec: JobSpec, timeout: float = 120.0) -> tuple[int, str]:
        """Runs a one-off container to its end (removed after) and returns its exit code and
        output; InfrastructureError past `timeout` seconds."""

    def plain_logs(self, name: str, lines: int = 15) -> list[str]: ...

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> None: ...

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> None: ...


class PortOps(Protocol):
    """The host's published ports and the loopback fence."""

    @property
    def stack(self) -> str: ...

    def fence_ports(self, ports: Sequence[int]) -> None:
        """Lets only loopback reach `ports` on this host (the engine publishes on every address)."""

    def unfence_ports(self) -> None:
        """Removes the fence; fine when there is none."""

    def fenced_ports(self) -> dict[str, list[int]]:
        """{address family's tool: ports fenced} as the host holds them now."""


class StackDriver(StackOps, SecretOps, ServiceOps, ContainerOps, ImageOps, PlainOps, PortOps, Protocol):
    """One stack on one engine: every concern. A module that needs one concern only (images,
    the port fence) asks for that protocol, so that a second engine or a fake can start small."""
