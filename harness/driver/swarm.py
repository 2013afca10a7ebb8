"""Docker Swarm (one node) as the harness's engine: every inspect path, the stack's label
and the `{stack}_{service}` naming live here."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from docker.errors import APIError, DockerException, NotFound

from harness.driver import commands, layers, ports
from harness.driver.base import EXEC_TIMEOUT_S, TIMED_OUT
from harness.driver.docker_objects import SERVICE_NAME_LABEL, DockerObjects, ignore_missing
from harness.driver.model import ContainerInfo, ServiceInfo, TaskInfo
from harness.errors import EngineUnavailable, InfrastructureError, NoSuchService

PAUSE_ATTEMPTS = 5  # see pause()
RECORD_READERS = 8  # containers read at once by records()


class SwarmDriver(DockerObjects):
    """The stack `stack` on the Docker engine `client` talks to (connected on first use)."""

    # --- published ports (Swarm publishes host-mode ports on every address)
    def fence_ports(self, published: Sequence[int]) -> None:
        ports.fence(self.stack, published)

    def unfence_ports(self) -> None:
        ports.unfence(self.stack)

    def fenced_ports(self) -> dict[str, list[int]]:
        return ports.fenced(self.stack)

    # --- the stack as a whole
    def check_engine(self) -> None:
        swarm = self.client.info().get("Swarm", {})
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise EngineUnavailable("this Docker engine is not a Swarm manager",
                                    hint="run `bash scripts/setup.sh` (it runs `docker swarm init` on 127.0.0.1)")

    def deploy(self, stack_file: Path, env: Mapping[str, str]) -> None:
        commands.run(["docker", "stack", "deploy", "--prune", "--resolve-image", "never", "-c", str(stack_file),
                      self.stack], env=env, timeout=120)

    def remove(self, stop_last: Sequence[str] = ()) -> int:
        services = self._services()
        if not services:
            return 0
        commands.run(["docker", "stack", "rm", self.stack], env=_client_env(), timeout=120)
        for service in services:  # services not made by `stack deploy` but labelled ours
            ignore_missing(service.remove)
        self._stop_tasks(stop_last)
        return len(services)

    def _stop_tasks(self, stop_last: Sequence[str]) -> None:
        """Stops the removed services' containers at once, each with its own grace period,
        then removes them; `stop_last` after the others. Swarm's agent would do the same,
        but only about 8 s after `docker stack rm` here."""
        found = self._list("containers", filters={"label": self.label})

        def stop(container: Any) -> None:
            # Best effort: Swarm's agent races us; what it finishes is as good.
            try:
                container.stop(timeout=30)
                container.remove()
            except DockerException:
                pass

        def service(container: Any) -> str:
            return self.short_name(container.labels.get(SERVICE_NAME_LABEL, ""))

        for wave in ([c for c in found if service(c) not in stop_last], [c for c in found if service(c) in stop_last]):
            with ThreadPoolExecutor(max_workers=max(1, len(wave))) as pool:
                list(pool.map(stop, wave))

    # --- services and tasks
    def full_name(self, name: str) -> str:
        return name if name.startswith(f"{self.stack}_") else f"{self.stack}_{name}"

    def _services(self) -> list[Any]:
        return list(self._list("services", filters={"label": self.label}))

    def _service(self, name: str) -> Any:
        try:
            svc = self.client.services.get(self.full_name(name))
        except NotFound:
            svc = None
        except DockerException as exc:
            raise InfrastructureError(f"cannot inspect the service {name}: {exc}") from exc
        if svc is None or (svc.attrs["Spec"].get("Labels") or {}).get("devsim.stack") != self.stack:
            raise NoSuchService(f"the stack {self.stack!r} has no service {name!r}", hint="run `devsim up`")
        return svc

    def services(self) -> list[ServiceInfo]:
        return [self._info(s) for s in self._services()]

    def service(self, name: str) -> ServiceInfo:
        return self._info(self._service(name))

    def _info(self, svc: Any) -> ServiceInfo:
        attrs = svc.attrs
        spec = attrs["Spec"]
        container = spec.get("TaskTemplate", {}).get("ContainerSpec", {})
        test = (container.get("Healthcheck") or {}).get("Test")
        update = attrs.get("UpdateStatus") or {}
        return ServiceInfo(
            name=self.short_name(spec["Name"]), full_name=spec["Name"],
            image=str(container.get("Image", "")).split("@")[0],
            replicas=int(spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 1)),
            labels=dict(spec.get("Labels") or {}),
            env=dict(e.split("=", 1) for e in container.get("Env") or [] if "=" in e),
            update_config=dict(spec.get("UpdateConfig") or {}),
            healthcheck=tuple(str(t) for t in test) if test is not None else None,
            published_ports=tuple(int(p["PublishedPort"]) for p in spec.get("EndpointSpec", {}).get("Ports", [])
                                  if p.get("PublishedPort")),
            update_state=str(update.get("State", "")), update_started=update.get("StartedAt"),
            update_message=str(update.get("Message", "")),
            at_previous_spec=spec == attrs.get("PreviousSpec"),
            rollback_image=_rollback_image(spec, attrs.get("PreviousSpec")),
        )

    def tasks(self, service: str, desired_running: bool = False) -> list[TaskInfo]:
        svc = self._service(service)
        try:
            raw = svc.tasks(filters={"desired-state": "running"} if desired_running else None)
        except DockerException as exc:
            raise InfrastructureError(f"cannot list the tasks of {service}: {exc}") from exc
        return [TaskInfo(str(t["ID"]), int(t.get("Slot", 0)),
                         str(t["Spec"]["ContainerSpec"]["Image"]).split("@")[0], str(t["Status"]["State"]),
                         str(t.get("DesiredState", "")), str(t["Status"].get("Err", ""))) for t in raw]

    def update(self, service: str, *, image: str = "", env: Mapping[str, str] | None = None,
               replicas: int | None = None, add_labels: Mapping[str, str] | None = None,
               remove_labels: Sequence[str] = (), force: bool = False) -> None:
        argv = ["docker", "service", "update", "--detach"]
        for key, value in (add_labels or {}).items():
            argv += ["--label-add", f"{key}={value}"]
        for key in remove_labels:
            argv += ["--label-rm", key]
        if replicas is not None:
            argv += ["--replicas", str(replicas)]
        if image:
            argv += ["--image", image]
        for key, value in (env or {}).items():
            argv += ["--env-add", f"{key}={value}"]
        if force:
            argv.append("--force")
        commands.run([*argv, self.full_name(service)], env=_client_env(), timeout=60)

    def rollback(self, service: str) -> None:
        commands.run(["docker", "service", "rollback", "--detach", self.full_name(service)], env=_client_env(),
                     timeout=60)

    def logs(self, service: str, lines: int = 15) -> list[str]:
        try:
            raw = b"".join(self._service(service).logs(stdout=True, stderr=True, tail=lines, timestamps=False))
        except (DockerException, InfrastructureError):
            return []
        return raw.decode("utf-8", "replace").strip().splitlines()[-lines:]

    # --- task containers on this node
    def containers(self, service: str, running_only: bool = True) -> list[ContainerInfo]:
        flt: dict[str, Any] = {"label": [self.label, f"{SERVICE_NAME_LABEL}={self.full_name(service)}"]}
        if running_only:
            flt["status"] = "running"
        found = [self._container_info(c) for c in self._list("containers", all=not running_only, filters=flt)]
        if not found:
            self._service(service)  # none, or no such service: NoSuchService says which
        return sorted(found, key=lambda c: c.created, reverse=True)

    def kill(self, container: ContainerInfo, signal: str) -> None:
        self._do(container, "kill", signal=signal)

    def pause(self, container: ContainerInfo) -> None:
        # runc gives up on a cgroup whose tasks do not all reach the freezer in time ("unable
        # to freeze") and thaws it: under load here 1 to 4 pauses in 100 did (measured with
        # and without the stack's limits), so a freeze fault failed a run now and then
        for attempt in range(PAUSE_ATTEMPTS):
            try:
                self._do(container, "pause")
                return
            except InfrastructureError as exc:
                if "unable to freeze" not in str(exc) or attempt == PAUSE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05)

    def unpause(self, container: ContainerInfo) -> None:
        self._do(container, "unpause")

    def inspect(self, container: ContainerInfo) -> ContainerInfo:
        return self._container_info(self._container(container.id))

    def exec(self, container: ContainerInfo, argv: Sequence[str], user: str = "",
             detach: bool = False, timeout: float = EXEC_TIMEOUT_S) -> tuple[int, str]:
        api = self.client.api
        try:
            made = api.exec_create(container.id, list(argv), user=user)["Id"]
            if detach:
                api.exec_start(made, detach=True)
                return 0, ""
            found: dict[str, Any] = {}

            def start() -> None:
                try:
                    found["out"] = api.exec_start(made)
                except DockerException as exc:
                    found["error"] = exc

            # a daemon thread: one whose process outlives the kill below must not hold the
            # command at its exit
            waiting = threading.Thread(target=start, daemon=True)
            waiting.start()
            waiting.join(timeout)
            if waiting.is_alive():
                # the process hangs (a frozen database, a network that drops): end it and its
                # children from the host, by their pids there, so that the call returns
                _kill_tree(int(api.exec_inspect(made).get("Pid") or 0))
                waiting.join(10)
                return TIMED_OUT, f"`{argv[0]}` timed out after {timeout:g} s in {container.name}"
            if "error" in found:
                raise found["error"]
            code = api.exec_inspect(made).get("ExitCode")
        except DockerException as exc:
            return 255, str(exc)
        return int(code if code is not None else 255), bytes(found.get("out") or b"").decode("utf-8", "replace")

    def in_netns(self, container: ContainerInfo, argv: Sequence[str]) -> str:
        pid = self.inspect(container).pid
        if pid <= 0:
            raise InfrastructureError(f"container {container.name} is not running")
        return commands.run(["nsenter", "-t", str(pid), "-n", *argv], timeout=60).stdout

    def records(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for svc in self._list("services", filters={"label": self.label}):
            found[f"service {self.short_name(svc.name)} (inspect)"] = json.dumps(svc.attrs)
        containers = self._list("containers", all=True, filters={"label": self.label})
        # each container's reads wait on the engine (a layer's diff takes 0.4 to 2 s, each
        # file a request): side by side, a stack's 22 take a fifth of the time in a row
        with ThreadPoolExecutor(max_workers=RECORD_READERS) as pool:
            for records in pool.map(self._container_records, containers):
                found.update(records)
        images = {c.attrs.get("Image", "") for c in containers}
        for image_id in sorted(i for i in images if i):
            try:
                image = self.client.images.get(image_id)
                found[f"image {(image.tags or [image_id[:19]])[0]} (inspect)"] = json.dumps(
                    [image.attrs, image.history()])
            except DockerException:
                pass
        return found

    def _container_records(self, c: Any) -> dict[str, str]:
        found = {f"container {c.name} (inspect)": json.dumps(c.attrs)}
        with contextlib.suppress(DockerException):  # gone meanwhile
            found[f"container {c.name} (log)"] = c.logs(tail=20_000).decode("utf-8", "replace")
        if c.status == "running":
            code, out = self.exec(self._container_info(c), ["sh", "-c", layers.ARGUMENTS], timeout=20)
            found[f"container {c.name} (process arguments)"] = out if code == 0 else ""
        for path, text in layers.written_files(c):
            found[f"container {c.name} (file {path} on disk)"] = text
        return found

    def _container(self, container_id: str) -> Any:
        try:
            return self.client.containers.get(container_id)
        except NotFound as exc:
            raise InfrastructureError(f"container {container_id[:12]} is gone") from exc
        except DockerException as exc:
            raise InfrastructureError(f"cannot inspect container {container_id[:12]}: {exc}") from exc

    def _do(self, container: ContainerInfo, action: str, **kwargs: Any) -> None:
        try:
            getattr(self._container(container.id), action)(**kwargs)
        except APIError as exc:
            raise InfrastructureError(f"cannot {action} {container.name}: {exc.explanation}") from exc


# What the docker CLI needs from the user's environment: where the engine is. Nothing else
# passes through, so a variable left exported in the shell never changes a mechanism.
CLIENT_ENV = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY",
              "DOCKER_CERT_PATH")


def _client_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in CLIENT_ENV}


def _rollback_image(spec: dict[str, Any], previous: dict[str, Any] | None) -> str | None:
    """The previous spec's image when it differs from `spec` in its image only."""
    if not previous:
        return None

    def image_and_rest(one: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        template = dict(one.get("TaskTemplate") or {})
        container = dict(template.get("ContainerSpec") or {})
        image = str(container.pop("Image", ""))
        return image.split("@")[0], {**one, "TaskTemplate": {**template, "ContainerSpec": container}}

    image, rest = image_and_rest(previous)
    return image if image and rest == image_and_rest(spec)[1] else None


def _kill_tree(pid: int) -> None:
    """SIGKILL to a host process and every descendant of it (read from /proc)."""
    if pid <= 0:
        return
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state
            children.setdefault(parent, []).append(int(entry.name))
    doomed, pending = [], [pid]
    while pending:
        current = pending.pop()
        doomed.append(current)
        pending += children.get(current, [])
    # the descendants first, the deepest last found first, then a moment for the exec's own
    # process to reap them: a container's first process rarely reaps orphans, and a zombie
    # counts against its pids limit
    for victim in reversed(doomed[1:]):
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    if len(doomed) > 1:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
