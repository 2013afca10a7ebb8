"""The Docker engine's plain objects for the stack's driver: images, networks, volumes and
containers outside Swarm (the development profile)."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from harness.driver import commands
from harness.driver.model import ContainerInfo, Containment, ImageInfo, JobSpec, PlainSpec
from harness.errors import BuildFailed, EngineUnavailable, InfrastructureError

SERVICE_NAME_LABEL = "com.docker.swarm.service.name"
SECRET_LABEL = "devsim.secret"
CONFIG_LABEL = "devsim.config"


def ignore_missing(remove: Callable[[], object]) -> None:
    """Removes an object that may be gone already; one still in use stays for the next try."""
    try:
        remove()
    except NotFound:
        pass
    except APIError as exc:
        # 409: still in use. An overlay network Swarm removes at the same moment answers 500
        # "network ... not found".
        if exc.status_code not in (404, 409) and "not found" not in str(exc.explanation):
            raise InfrastructureError(f"cannot remove a stack object: {exc.explanation}") from exc


def connect(timeout: int = 60) -> Any:
    """A Docker SDK client for the engine named by DOCKER_HOST (or the local socket)."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        reason = str(exc).splitlines()[0][:200]
        raise EngineUnavailable(f"cannot reach the Docker engine: {reason}", hint=commands.SETUP_HINT) from exc
    return client


class DockerObjects:
    """Everything of one stack the engine keeps, found by the stack's label."""

    def __init__(self, stack: str, client: Any = None, timeout: int = 60) -> None:
        self._stack = stack
        self._client = client
        self._timeout = timeout

    @property
    def stack(self) -> str:
        return self._stack

    @property
    def label(self) -> str:
        return f"devsim.stack={self._stack}"

    @property
    def client(self) -> Any:
        """The Docker SDK client, connected on first use (so `--help` never needs an engine)."""
        if self._client is None:
            self._client = connect(self._timeout)
        return self._client

    def short_name(self, full: str) -> str:
        prefix = f"{self.stack}_"
        return full[len(prefix):] if full.startswith(prefix) else full

    def _list(self, kind: str, **kwargs: Any) -> list[Any]:
        try:
            return list(getattr(self.client, kind).list(**kwargs))
        except DockerException as exc:
            raise InfrastructureError(f"cannot list the stack's {kind}: {exc}") from exc

    # --- what is left of the stack
    def leftovers(self, volumes: bool, keep: Sequence[str] = ()) -> dict[str, int]:
        flt = {"label": self.label}
        left = {"services": len(self._list("services", filters=flt)),
                "containers": len(self._list("containers", all=True, filters=flt, sparse=True)),
                "networks": len(self._list("networks", filters=flt))}
        if volumes:
            left["volumes"] = len([v for v in self._list("volumes", filters=flt) if not self._kept(v.name, keep)])
            left["secrets"] = len(self._list("secrets", filters=flt)) + len(self._list("configs", filters=flt))
        return left

    def remove_networks(self) -> None:
        for net in self._list("networks", filters={"label": self.label}):
            ignore_missing(net.remove)

    def volumes(self) -> list[str]:
        return sorted(str(vol.name) for vol in self._list("volumes", filters={"label": self.label}))

    def remove_volumes(self, keep: Sequence[str] = ()) -> None:
        for vol in self._list("volumes", filters={"label": self.label}):
            if not self._kept(vol.name, keep):
                ignore_missing(vol.remove)

    def _kept(self, name: str, keep: Sequence[str]) -> bool:
        return any(name == f"{self.stack}_{short}" for short in keep)

    # --- secrets and configs: `{stack}_secret_{name}`, `{stack}_config_{name}`, labelled with
    # the stack and the short name. Configs are public files (certificates) the API gives back.
    def secrets(self) -> dict[str, str]:
        return {name: obj.name for name, obj in self._stored("secrets", SECRET_LABEL).items()}

    def create_secret(self, name: str, value: str) -> str:
        return self._create("secrets", "secret", SECRET_LABEL, name, value)

    def remove_secrets(self) -> None:
        for kind in ("secrets", "configs"):
            for obj in self._list(kind, filters={"label": self.label}):
                ignore_missing(obj.remove)

    def remove_secret(self, name: str) -> None:
        self._remove("secrets", SECRET_LABEL, name)

    def configs(self) -> dict[str, tuple[str, str]]:
        return {name: (obj.name, base64.b64decode(obj.attrs["Spec"]["Data"]).decode())
                for name, obj in self._stored("configs", CONFIG_LABEL).items()}

    def create_config(self, name: str, value: str) -> str:
        return self._create("configs", "config", CONFIG_LABEL, name, value)

    def remove_config(self, name: str) -> None:
        self._remove("configs", CONFIG_LABEL, name)

    def _stored(self, kind: str, label: str) -> dict[str, Any]:
        found = self._list(kind, filters={"label": self.label})
        return {o.attrs["Spec"]["Labels"][label]: o for o in found if o.attrs["Spec"]["Labels"].get(label)}

    def _create(self, kind: str, word: str, label: str, name: str, value: str) -> str:
        full = f"{self.stack}_{word}_{name}"
        try:
            getattr(self.client, kind).create(name=full, data=value.encode(),
                                              labels={"devsim.stack": self.stack, label: name})
        except DockerException as exc:
            raise InfrastructureError(f"cannot create the {word} {full}: {exc}") from exc
        return full

    def _remove(self, kind: str, label: str, name: str) -> None:
        for obj in self._list(kind, filters={"label": [self.label, f"{label}={name}"]}):
            ignore_missing(obj.remove)

    # --- images
    def image(self, ref: str) -> ImageInfo | None:
        try:
            found = self.client.images.get(ref)
        except ImageNotFound:
            return None
        except DockerException as exc:
            raise InfrastructureError(f"cannot inspect {ref}: {exc}") from exc
        return _image_info(found)

    def images(self, repo: str = "", built_by_stack: bool = False) -> list[ImageInfo]:
        kwargs: dict[str, Any] = {"filters": {"label": self.label}} if built_by_stack else {}
        if repo:
            kwargs["name"] = repo
        return [_image_info(i) for i in self._list("images", **kwargs)]

    def pull(self, ref: str) -> None:
        try:
            self.client.images.pull(ref)
        except DockerException as exc:
            raise InfrastructureError(f"cannot pull {ref}: {str(exc).splitlines()[0][:120]}") from exc

    def import_rootfs(self, rootfs: Path, ref: str) -> None:
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", ref], stdin=tar.stdout, capture_output=True, text=True,
                                  check=False)
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise InfrastructureError(f"docker import of {ref} failed: {imported.stderr.strip()}")

    def build(self, context: Path, tag: str, build_args: Mapping[str, str], labels: Mapping[str, str],
              on_step: Callable[[str], None]) -> str:
        log: list[str] = []
        step = "before the first step"
        try:
            stream: Iterator[dict[str, Any]] = self.client.api.build(
                path=str(context), tag=tag, buildargs=dict(build_args), rm=True, forcerm=True,
                labels={"devsim.stack": self._stack, **labels}, decode=True)
            for chunk in stream:
                if "error" in chunk:
                    raise BuildFailed(f"building {tag} failed at {step}: {chunk['error'].strip()}",
                                      hint=f"the Dockerfile of target-stack/{context.name}", details=log[-15:])
                text = str(chunk.get("stream", "")).rstrip()
                if not text:
                    continue
                log.extend(text.splitlines())
                if text.startswith("Step "):
                    step = text.split(" : ")[0].lower()
                    on_step(text)
        except APIError as exc:
            raise BuildFailed(f"building {tag} failed: {exc.explanation}", details=log[-15:]) from exc
        built = self.image(tag)
        if built is None:
            raise BuildFailed(f"building {tag} left no image", details=log[-15:])
        return built.id

    def tag(self, image_id: str, ref: str) -> None:
        repo, _, version = ref.rpartition(":")
        try:
            self.client.images.get(image_id).tag(repo, version)
        except DockerException as exc:
            raise InfrastructureError(f"cannot tag {image_id[:19]} as {ref}: {exc}") from exc

    def remove_image(self, ref: str) -> bool:
        try:
            self.client.images.remove(ref, force=False, noprune=False)
        except ImageNotFound:
            return False
        except APIError as exc:
            if exc.status_code == 409:  # a container still uses it
                return False
            raise InfrastructureError(f"cannot remove {ref}: {exc.explanation}") from exc
        return True

    # --- plain containers
    def plain_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        wanted = [self.label, *(f"{k}={v}" for k, v in labels.items())]
        found = [self._container_info(c) for c in self._list("containers", all=True, filters={"label": wanted})]
        return sorted(found, key=lambda c: c.created, reverse=True)

    def _container_info(self, c: Any) -> ContainerInfo:
        state = c.attrs.get("State", {})
        bindings = c.attrs.get("HostConfig", {}).get("PortBindings") or {}
        return ContainerInfo(
            id=str(c.id), name=str(c.name),
            service=self.short_name(c.labels.get(SERVICE_NAME_LABEL, "")) or c.labels.get("devsim.service", c.name),
            created=str(c.attrs.get("Created", "")), status=str(state.get("Status", "")),
            health=str((state.get("Health") or {}).get("Status", "")),
            image=str(c.attrs.get("Config", {}).get("Image", "")), image_id=str(c.attrs.get("Image", "")),
            paused=bool(state.get("Paused")),
            pid=int(state.get("Pid") or 0),
            ports={port: f"{b['HostIp']}:{b['HostPort']}" for port, binding in bindings.items()
                   for b in binding or []},
            containment=_containment(c.attrs),
        )

    def remove_plain(self, container: ContainerInfo, grace_s: int = 5) -> None:
        try:
            found = self.client.containers.get(container.id)
            found.stop(timeout=grace_s)
            found.remove(v=False)
        except NotFound:
            pass
        except APIError as exc:
            raise InfrastructureError(f"cannot remove {container.name}: {exc.explanation}") from exc

    def plain_logs(self, name: str, lines: int = 15) -> list[str]:
        try:
            raw = self.client.containers.get(name).logs(tail=lines)
        except DockerException:
            return []
        return bytes(raw).decode("utf-8", "replace").strip().splitlines()[-lines:]

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> None:
        try:
            if not self.client.networks.list(names=[name]):
                self.client.networks.create(name, driver="bridge", labels={"devsim.stack": self._stack, **labels})
        except APIError as exc:
            raise InfrastructureError(f"cannot create the network {name}: {exc.explanation}") from exc

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> None:
        try:
            if not self.client.volumes.list(filters={"name": name}):
                self.client.volumes.create(name, labels={"devsim.stack": self._stack, **labels})
        except APIError as exc:
            raise InfrastructureError(f"cannot create the volume {name}: {exc.explanation}") from exc

    def run_plain(self, spec: PlainSpec) -> None:
        try:
            container = self.client.containers.create(
                spec.image, command=list(spec.command) if spec.command else None, name=spec.name,
                environment=dict(spec.environment), labels={"devsim.stack": self._stack, **spec.labels},
                ports=dict(spec.ports), volumes={k: dict(v) for k, v in spec.binds.items()},
                healthcheck=dict(spec.healthcheck) if spec.healthcheck else None, network=spec.network,
                networking_config={spec.network: self.client.api.create_endpoint_config(aliases=list(spec.aliases))},
                restart_policy={"Name": "unless-stopped"}, stop_signal=spec.stop_signal, detach=True)
            container.start()
        except APIError as exc:
            raise InfrastructureError(f"cannot start {spec.name}: {exc.explanation}") from exc

    def run_job(self, spec: JobSpec, timeout: float = 120.0) -> tuple[int, str]:
        try:
            container = self.client.containers.create(
                spec.image, command=list(spec.command), user=spec.user or None,
                labels={"devsim.stack": self._stack, "devsim.job": "1"},
                volumes={name: {"bind": path, "mode": "rw"} for name, path in spec.volumes.items()},
                network_mode="none", read_only=True, cap_drop=["ALL"], cap_add=list(spec.cap_add) or None,
                mem_limit="128m", pids_limit=64, detach=True)
        except APIError as exc:
            raise InfrastructureError(f"cannot create a job container from {spec.image}: {exc.explanation}") from exc
        try:
            container.start()
            code = int(container.wait(timeout=timeout).get("StatusCode", -1))
            out = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        except (DockerException, OSError) as exc:  # a time-out surfaces as a requests error (an OSError)
            raise InfrastructureError(f"a job container ({' '.join(spec.command)[:60]}) did not finish within "
                                      f"{timeout:g} s: {exc}") from exc
        finally:
            ignore_missing(lambda: container.remove(force=True))
        return code, out


def _image_info(image: Any) -> ImageInfo:
    return ImageInfo(str(image.id), tuple(image.tags), dict(image.labels or {}))


def _containment(attrs: Mapping[str, Any]) -> Containment:
    host = attrs.get("HostConfig") or {}
    log = host.get("LogConfig") or {}
    return Containment(
        cap_drop=tuple(host.get("CapDrop") or ()), cap_add=tuple(host.get("CapAdd") or ()),
        read_only=bool(host.get("ReadonlyRootfs")), memory=max(0, int(host.get("Memory") or 0)),
        pids=max(0, int(host.get("PidsLimit") or 0)), nano_cpus=max(0, int(host.get("NanoCpus") or 0)),
        log_max_size=str((log.get("Config") or {}).get("max-size", "")) if log.get("Type") == "json-file" else "",
        user=str((attrs.get("Config") or {}).get("User", "")),
        binds=tuple(str(m.get("Source", "")) for m in attrs.get("Mounts") or () if m.get("Type") == "bind"))
