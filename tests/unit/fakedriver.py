"""A fake engine behind the `StackDriver` seam, for unit tests of everything that asks one.

It keeps the state the harness's calls change (services' replicas, labels, images and
rolling-update state; containers paused or killed; an iptables table per network
namespace; the latency proxy's setting; the CPU stress's pid file) and records every call.
It checks nothing the real engine would not: an unknown service raises NoSuchService, as
SwarmDriver does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.driver import ContainerInfo, ImageInfo, JobSpec, PlainSpec, ServiceInfo, TaskInfo
from harness.errors import InfrastructureError, NoSuchService


@dataclass
class Netns:
    chains: dict[str, list[str]] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    input: list[str] = field(default_factory=list)

    def snapshot(self) -> tuple[object, ...]:
        return (dict(self.chains), list(self.output), list(self.input))


@dataclass
class FakeContainer:
    info: ContainerInfo
    latency: str = "0 0"
    stress_pid: str = ""
    killed: list[str] = field(default_factory=list)

    def state(self) -> tuple[object, ...]:
        return (self.info.paused, self.latency, self.stress_pid)


# What an update to an image does, by the image's release: the states the service goes
# through, one per look, and what its tasks end as.
ROLLOUTS: dict[str, tuple[tuple[str, ...], str]] = {
    "good": (("updating", "updating", "completed"), "running"),
    "crash": (("updating", "rollback_started", "rollback_started", "rollback_completed"), "failed"),
    "stuck": (("updating",) * 10_000, "running"),
}


class FakeDriver:
    """Services (app x3, cache x1, dbproxy x1 by default), one container per task."""

    def __init__(self, stack: str = "devsim", services: Mapping[str, int] | None = None) -> None:
        self._stack = stack
        self.calls: list[str] = []
        self.svcs: dict[str, ServiceInfo] = {}
        self.ctrs: dict[str, list[FakeContainer]] = {}
        self.netns: dict[int, Netns] = {}
        self.secret_values: dict[str, str] = {}
        self.engine_records: dict[str, str] = {}
        self.config_values: dict[str, str] = {}
        self.images_by_ref: dict[str, ImageInfo] = {}
        self.task_states: dict[str, list[TaskInfo]] = {}
        self.pending: dict[str, list[str]] = {}  # service -> update states still to come
        self.roles: dict[str, str] = {}  # Patroni member -> leader, replica (add_patroni)
        self.member_state: dict[str, str] = {}  # Patroni member -> running, stopped, ...
        self.vols = [f"{stack}_db1-data", f"{stack}_backup-repo1", f"{stack}_backup-repo2"]
        self.switchover_answer = ""  # what Patroni answers a switchover it does make ("" : 200)
        self.sql_answer = ""  # what psql prints (tab-separated rows) for any query; its queries in calls
        self._pid = 100
        self.fence: list[int] = []
        self.jobs: list[JobSpec] = []
        self.job_answers: list[tuple[int, str]] = []
        self._updates = 0
        for name, replicas in (services if services is not None else {"app": 3, "cache": 1, "dbproxy": 1}).items():
            self.add_service(name, replicas)

    # --- set-up helpers
    def add_service(self, name: str, replicas: int, image: str = "", env: Mapping[str, str] | None = None) -> None:
        image = image or f"{self._stack}/{name}:v1-000000000001"
        self.svcs[name] = ServiceInfo(name, f"{self._stack}_{name}", image, replicas, labels={},
                                      env=dict(env or {}))
        self.ctrs[name] = []
        self._scale_to(name, replicas)

    def add_patroni(self, *members: str) -> None:
        """Patroni nodes, the first the leader, each answering its REST API through `exec`."""
        for i, member in enumerate(members):
            self.add_service(member, 1, env={"PATRONI_NAME": member})
            self.roles[member] = "leader" if i == 0 else "replica"
            self.member_state[member] = "running" if i == 0 else "streaming"

    def _patroni(self, argv: Sequence[str]) -> tuple[int, str]:
        method = argv[argv.index("-X") + 1]
        path = next(a for a in argv if a.startswith("http://127.0.0.1:8008")).split(":8008", 1)[1]
        if method == "GET" and path == "/cluster":
            members = [{"name": m, "role": r, "state": self.member_state[m], "timeline": 1,
                        "lag": None if r == "leader" else 0} for m, r in self.roles.items()]
            return 0, f'{json.dumps({"members": members})}\n200'
        if method == "GET" and path == "/config":
            return 0, '{"synchronous_mode": false, "ttl": 30, "loop_wait": 10, "retry_timeout": 10}\n200'
        if method == "POST" and path == "/switchover":
            body = json.loads(argv[argv.index("-d") + 1])
            if self.roles.get(body["leader"]) != "leader":
                return 0, "leader name does not match\n412"
            candidate = body.get("candidate") or next(m for m, r in self.roles.items() if r != "leader")
            self._promote(candidate)
            if self.switchover_answer:  # it switched over, but answered this (a late or lost answer)
                return 0, self.switchover_answer
            return 0, "Successfully switched over\n200"
        raise AssertionError(f"unexpected Patroni call: {method} {path}")

    def _promote(self, member: str) -> None:
        for name in self.roles:
            self.roles[name] = "leader" if name == member else "replica"
            self.member_state[name] = "running" if name == member else "streaming"

    def add_image(self, ref: str, image_id: str, labels: Mapping[str, str] | None = None) -> None:
        self.images_by_ref[ref] = ImageInfo(image_id, (ref,), dict(labels or {}))

    def _scale_to(self, name: str, replicas: int) -> None:
        live = self.ctrs[name]
        while len(live) < replicas:
            self._pid += 1
            live.append(FakeContainer(ContainerInfo(f"c{self._pid}", f"{self._stack}_{name}.{len(live) + 1}", name,
                                                    created=f"{self._pid}", pid=self._pid,
                                                    image=self.svcs[name].image)))
            self.netns[self._pid] = Netns()
        del live[replicas:]
        self.task_states[name] = [TaskInfo(c.info.id, i + 1, self.svcs[name].image, "running", "running")
                                  for i, c in enumerate(live)]

    def state(self) -> tuple[object, ...]:
        return (tuple((n, tuple(c.state() for c in cs)) for n, cs in self.ctrs.items()),
                tuple((n, dict(s.labels), s.replicas, s.image) for n, s in self.svcs.items()),
                tuple(self.netns[c.info.pid].snapshot() for cs in self.ctrs.values() for c in cs))

    def _find(self, container: ContainerInfo) -> FakeContainer:
        for live in self.ctrs.values():
            for c in live:
                if c.info.id == container.id:
                    return c
        raise InfrastructureError(f"container {container.id} is gone")

    # --- StackDriver
    @property
    def stack(self) -> str:
        return self._stack

    def check_engine(self) -> None:
        self.calls.append("check_engine")

    def deploy(self, stack_file: Path, env: Mapping[str, str]) -> None:
        self.calls.append(f"deploy {stack_file.name}")

    def remove(self, stop_last: Sequence[str] = ()) -> int:
        self.calls.append("remove")
        count = len(self.svcs)
        self.svcs.clear()
        self.ctrs.clear()
        return count

    def leftovers(self, volumes: bool, keep: Sequence[str] = ()) -> dict[str, int]:
        left = {"services": len(self.svcs), "containers": sum(len(c) for c in self.ctrs.values()), "networks": 0}
        if volumes:
            left["volumes"] = len([v for v in self.vols if v.removeprefix(f"{self.stack}_") not in keep])
        return left

    def remove_networks(self) -> None:
        self.calls.append("remove_networks")

    def volumes(self) -> list[str]:
        return list(self.vols)

    def remove_volumes(self, keep: Sequence[str] = ()) -> None:
        self.calls.append("remove_volumes" + (f" keep {','.join(keep)}" if keep else ""))
        self.vols = [v for v in self.vols if v.removeprefix(f"{self.stack}_") in keep]

    def secrets(self) -> dict[str, str]:
        return {name: f"{self._stack}_secret_{name}" for name in self.secret_values}

    def create_secret(self, name: str, value: str) -> str:
        self.calls.append(f"create_secret {name}")
        self.secret_values[name] = value
        return f"{self._stack}_secret_{name}"

    def remove_secrets(self) -> None:
        self.calls.append("remove_secrets")
        self.secret_values.clear()

    def records(self) -> dict[str, str]:
        return dict(self.engine_records)

    def configs(self) -> dict[str, tuple[str, str]]:
        return {name: (f"{self._stack}_config_{name}", value) for name, value in self.config_values.items()}

    def create_config(self, name: str, value: str) -> str:
        self.calls.append(f"create_config {name}")
        self.config_values[name] = value
        return f"{self._stack}_config_{name}"

    def remove_secret(self, name: str) -> None:
        self.calls.append(f"remove_secret {name}")
        self.secret_values.pop(name, None)

    def remove_config(self, name: str) -> None:
        self.calls.append(f"remove_config {name}")
        self.config_values.pop(name, None)

    def services(self) -> list[ServiceInfo]:
        return [self.service(n) for n in list(self.svcs)]

    def service(self, name: str) -> ServiceInfo:
        if name not in self.svcs:
            raise NoSuchService(f"the stack {self._stack!r} has no service {name!r}")
        pending = self.pending.get(name)
        if pending:  # one look, one step of the rolling update
            self.svcs[name] = replace(self.svcs[name], update_state=pending.pop(0))
        return self.svcs[name]

    def _require(self, name: str) -> None:
        if name not in self.svcs:
            raise NoSuchService(f"the stack {self._stack!r} has no service {name!r}")

    def tasks(self, service: str, desired_running: bool = False) -> list[TaskInfo]:
        self._require(service)
        found = self.task_states[service]
        return [t for t in found if t.desired_state == "running"] if desired_running else list(found)

    def update(self, service: str, *, image: str = "", env: Mapping[str, str] | None = None,
               replicas: int | None = None, add_labels: Mapping[str, str] | None = None,
               remove_labels: Sequence[str] = (), force: bool = False) -> None:
        self._require(service)
        svc = self.svcs[service]
        self.calls.append(" ".join(["update", service] + [f"+{k}={v}" for k, v in (add_labels or {}).items()]
                                   + [f"-{k}" for k in remove_labels]
                                   + ([f"replicas={replicas}"] if replicas is not None else [])
                                   + ([f"image={image}"] if image else [])
                                   + [f"env {k}={v}" for k, v in (env or {}).items()] + (["force"] if force else [])))
        labels = {**{k: v for k, v in svc.labels.items() if k not in remove_labels}, **(add_labels or {})}
        if replicas is not None and replicas != svc.replicas:  # the engine's previous spec is now the old count's
            svc = replace(svc, rollback_image=None)
            if not (image or env or force):  # and, as swarmkit does for any update, its update status is cleared
                svc = replace(svc, update_started=None, update_state="", update_message="")
                self.pending.pop(service, None)
        svc = replace(svc, labels=labels, replicas=svc.replicas if replicas is None else replicas,
                      env={**svc.env, **(env or {})})
        if image or env or force:
            self._updates += 1
            kind = next((k for k in ("crash", "stuck") if k in image), "good")
            states, ends = ROLLOUTS[kind]
            previous = svc.image
            only_image = bool(image) and not env and not force and replicas is None and not add_labels \
                and not remove_labels
            svc = replace(svc, image=image or svc.image, update_started=f"update-{self._updates}",
                          update_state=states[0], rollback_image=previous if only_image else None)
            self.pending[service] = list(states[1:])
            if kind == "crash":  # the new task fails; the engine puts the old image back
                self.task_states[service] = [*self.task_states[service],
                                             TaskInfo(f"new-{self._updates}", 1, image, ends, "shutdown",
                                                      "task: non-zero exit (1)")]
                svc = replace(svc, image=previous, rollback_image=image)
            else:
                self.task_states[service] = [replace(t, image=svc.image) for t in self.task_states[service]]
        self.svcs[service] = svc
        if replicas is not None:
            self._scale_to(service, replicas)

    def rollback(self, service: str) -> None:
        """The engine's rollback: back to the previous spec (here: its image), which becomes
        the one a next rollback brings back."""
        self.calls.append(f"rollback {service}")
        svc = self.svcs[service]
        if svc.rollback_image is None:
            return
        self._updates += 1
        self.svcs[service] = replace(svc, image=svc.rollback_image, rollback_image=svc.image,
                                     update_started=f"update-{self._updates}", update_state="rollback_started")
        self.pending[service] = ["rollback_completed"]
        self.task_states[service] = [replace(t, image=svc.rollback_image) for t in self.task_states[service]]

    def logs(self, service: str, lines: int = 15) -> list[str]:
        return [f"{service}: a log line"]

    def containers(self, service: str, running_only: bool = True) -> list[ContainerInfo]:
        self._require(service)
        return sorted((c.info for c in self.ctrs[service]), key=lambda c: c.created, reverse=True)

    def kill(self, container: ContainerInfo, signal: str) -> None:
        self.calls.append(f"kill {container.name} {signal}")
        self._find(container).killed.append(signal)
        if self.roles.get(container.service) == "leader":  # Patroni fails over; the old leader rejoins
            self._promote(next(m for m in self.roles if m != container.service))

    def pause(self, container: ContainerInfo) -> None:
        self.calls.append(f"pause {container.name}")
        found = self._find(container)
        found.info = replace(found.info, paused=True, status="paused")

    def unpause(self, container: ContainerInfo) -> None:
        self.calls.append(f"unpause {container.name}")
        found = self._find(container)
        found.info = replace(found.info, paused=False, status="running")

    def inspect(self, container: ContainerInfo) -> ContainerInfo:
        return self._find(container).info

    def exec(self, container: ContainerInfo, argv: Sequence[str], user: str = "",
             detach: bool = False, timeout: float = 300.0) -> tuple[int, str]:
        self.calls.append(f"exec {container.name}")
        if argv[0] == "curl":
            return self._patroni(argv)
        if argv[0] == "psql":
            self.calls.append(f"sql {argv[-1]}")
            return 0, self.sql_answer
        found, script = self._find(container), argv[-1]
        if list(argv[:1]) == ["cat"] and script.startswith("/run/secrets/"):
            value = self.secret_values.get(script.removeprefix("/run/secrets/"))
            return (0, value + "\n") if value else (1, f"cat: {script}: No such file or directory\n")
        if "OAUTH_CLIENTS_FILE" in script:
            return 0, self.secret_values.get("oauth_clients", "")
        if "/run/devsim-proxy/latency" in script:
            old, found.latency = found.latency, " ".join(re.findall(r"echo (\S+) (\S+) >", script)[0])
            return 0, f"{old}\n"
        if script.startswith("setsid"):
            found.stress_pid = "4242"
            return 0, ""
        if "kill -- -$(cat" in script:
            if not found.stress_pid:
                return 3, ""
            found.stress_pid = ""
            return 0, ""
        raise AssertionError(f"unexpected exec: {argv}")

    def in_netns(self, container: ContainerInfo, argv: Sequence[str]) -> str:
        self.calls.append(f"netns {container.name} {' '.join(argv)}")
        assert list(argv[:3]) == ["iptables", "-w", "5"], argv
        return _iptables(self.netns[container.pid], list(argv[3:]))

    def image(self, ref: str) -> ImageInfo | None:
        return self.images_by_ref.get(ref)

    def images(self, repo: str = "", built_by_stack: bool = False) -> list[ImageInfo]:
        return [i for ref, i in self.images_by_ref.items() if not repo or ref.startswith(f"{repo}:")]

    def pull(self, ref: str) -> None:
        raise InfrastructureError(f"cannot pull {ref}: no registry")

    def import_rootfs(self, rootfs: Path, ref: str) -> None:
        self.add_image(ref, "sha256:base")

    def build(self, context: Path, tag: str, build_args: Mapping[str, str], labels: Mapping[str, str],
              on_step: Callable[[str], None]) -> str:
        self.calls.append(f"build {tag}")
        self.add_image(tag, f"sha256:{len(self.calls):064x}", labels)
        return self.images_by_ref[tag].id

    def tag(self, image_id: str, ref: str) -> None:
        self.add_image(ref, image_id)

    def remove_image(self, ref: str) -> bool:
        return self.images_by_ref.pop(ref, None) is not None

    def plain_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        return []

    def run_job(self, spec: JobSpec, timeout: float = 120.0) -> tuple[int, str]:
        """Answers from `job_answers` in turn ((0, "") once they run out); the specs in `jobs`."""
        self.jobs.append(spec)
        self.calls.append(f"job {spec.command[-1]}")
        return self.job_answers.pop(0) if self.job_answers else (0, "")

    def run_plain(self, spec: PlainSpec) -> None:
        self.calls.append(f"run {spec.name}")

    def remove_plain(self, container: ContainerInfo, grace_s: int = 5) -> None:
        self.calls.append(f"remove {container.name}")

    def plain_logs(self, name: str, lines: int = 15) -> list[str]:
        return []

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> None:
        self.calls.append(f"network {name}")

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> None:
        self.calls.append(f"volume {name}")

    def fence_ports(self, ports: Sequence[int]) -> None:
        self.fence = sorted(ports)
        self.calls.append(f"fence {self.fence}")

    def unfence_ports(self) -> None:
        self.fence = []
        self.calls.append("unfence")

    def fenced_ports(self) -> dict[str, list[int]]:
        return {"iptables": self.fence} if self.fence else {}


def _iptables(ns: Netns, args: list[str]) -> str:
    op = args[0]
    if op == "-S":
        if args[1:] == ["OUTPUT"]:
            return "".join(f"-A OUTPUT {r}\n" for r in ns.output)
        if args[1:] == ["INPUT"]:
            return "".join(f"-A INPUT {r}\n" for r in ns.input)
        return "".join(f"-N {c}\n" for c in ns.chains)
    rule = " ".join(args[2:])
    if op == "-N":
        ns.chains[args[1]] = []
    elif op == "-A":
        ns.chains[args[1]].append(rule)
    elif op == "-I":
        (ns.output if args[1] == "OUTPUT" else ns.input).insert(0, " ".join(args[3:]))
    elif op == "-D":
        (ns.output if args[1] == "OUTPUT" else ns.input).remove(rule)
    elif op == "-F":
        ns.chains[args[1]] = []
    elif op == "-X":
        del ns.chains[args[1]]
    return ""
