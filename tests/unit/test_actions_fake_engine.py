"""The fault actions and their undos against a fake engine: what each asks the engine to do,
and that `restore_everything` undoes every kind of fault.

The fake stands where the harness meets Docker (`swarm.docker()` for the SDK, `swarm.cli` for
`docker service update` and `nsenter ... iptables`) and keeps the state those calls change:
paused containers, service replicas and labels, iptables chains per network namespace, the
latency proxy's setting and the CPU stress's pid file. It records every call it gets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from harness.chaos import actions, swarm

STACK = "devsim"
LABEL = f"devsim.stack={STACK}"
CONFIG = {"devsim_stack": STACK}


@dataclass
class Netns:
    chains: dict[str, list[str]] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    input: list[str] = field(default_factory=list)

    def snapshot(self) -> tuple[Any, ...]:
        return (dict(self.chains), list(self.output), list(self.input))


class FakeContainer:
    def __init__(self, engine: FakeEngine, name: str, service_id: str, pid: int) -> None:
        self.engine, self.name, self.service_id = engine, name, service_id
        self.attrs: dict[str, Any] = {"State": {"Paused": False, "Pid": pid}, "Created": name}
        self.latency = "0 0"
        self.stress_pid = ""
        self.killed: list[str] = []

    def kill(self, signal: str) -> None:
        self.engine.calls.append(f"kill {self.name} {signal}")
        self.killed.append(signal)

    def pause(self) -> None:
        self.engine.calls.append(f"pause {self.name}")
        self.attrs["State"]["Paused"] = True

    def unpause(self) -> None:
        self.engine.calls.append(f"unpause {self.name}")
        self.attrs["State"]["Paused"] = False

    def reload(self) -> None:
        pass

    def exec_run(self, cmd: list[str], detach: bool = False) -> tuple[int, bytes]:
        script = cmd[-1]
        self.engine.calls.append(f"exec {self.name}")
        if "/run/devsim-proxy/latency" in script:
            old, self.latency = self.latency, " ".join(re.findall(r"echo (\S+) (\S+) >", script)[0])
            return 0, f"{old}\n".encode()
        if script.startswith("setsid"):
            self.stress_pid = "4242"
            return 0, b""
        if "kill -- -$(cat" in script:
            if not self.stress_pid:
                return 3, b""
            self.stress_pid = ""
            return 0, b""
        raise AssertionError(f"unexpected exec: {cmd}")

    def state(self) -> tuple[Any, ...]:
        return (self.attrs["State"]["Paused"], self.latency, self.stress_pid)


class FakeService:
    def __init__(self, name: str, replicas: int) -> None:
        self.id = f"id-{name}"
        self.name = f"{STACK}_{name}"
        self.attrs: dict[str, Any] = {"Spec": {"Name": self.name, "Labels": {"devsim.stack": STACK},
                                               "Mode": {"Replicated": {"Replicas": replicas}}}}

    def tasks(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        replicas = self.attrs["Spec"]["Mode"]["Replicated"]["Replicas"]
        return [{"Status": {"State": "running"}} for _ in range(replicas)]

    def reload(self) -> None:
        pass

    def state(self) -> tuple[Any, ...]:
        return (dict(self.attrs["Spec"]["Labels"]), self.attrs["Spec"]["Mode"]["Replicated"]["Replicas"])


class _Collection:
    def __init__(self, items: list[Any], match: Any) -> None:
        self.items, self.match = items, match

    def list(self, all: bool = False, filters: dict[str, Any] | None = None) -> list[Any]:
        return [i for i in self.items if self.match(i, filters or {})]


class FakeEngine:
    """Three services (app x3, cache x1, dbproxy x1), a network namespace per container."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.svcs = {n: FakeService(n, r) for n, r in (("app", 3), ("cache", 1), ("dbproxy", 1))}
        self.ctrs: list[FakeContainer] = []
        self.netns: dict[int, Netns] = {}
        pid = 100
        for name, svc in self.svcs.items():
            for i in range(svc.attrs["Spec"]["Mode"]["Replicated"]["Replicas"]):
                pid += 1
                self.ctrs.append(FakeContainer(self, f"{STACK}_{name}.{i + 1}", svc.id, pid))
                self.netns[pid] = Netns()
        self.services = _Collection(list(self.svcs.values()), lambda s, f: f.get("label") == LABEL)
        self.containers = _Collection(self.ctrs, self._container_matches)

    @staticmethod
    def _container_matches(c: FakeContainer, filters: dict[str, Any]) -> bool:
        labels = filters.get("label", [])
        wanted = [lab.split("=", 1)[1] for lab in labels if lab.startswith("com.docker.swarm.service.id=")]
        return LABEL in labels and (not wanted or c.service_id == wanted[0])

    def state(self) -> tuple[Any, ...]:
        return (tuple(c.state() for c in self.ctrs), tuple(s.state() for s in self.svcs.values()),
                tuple(n.snapshot() for n in self.netns.values()))

    def cli(self, *argv: str, timeout: float = 120) -> str:
        self.calls.append(" ".join(argv))
        if argv[:3] == ("docker", "service", "update"):
            svc = next(s for s in self.svcs.values() if s.name == argv[-1])
            args = list(argv[3:-1])
            spec = svc.attrs["Spec"]
            for flag, value in zip(args, [*args[1:], ""], strict=True):
                if flag == "--label-add":
                    key, _, val = value.partition("=")
                    spec["Labels"][key] = val
                elif flag == "--label-rm":
                    spec["Labels"].pop(value, None)
                elif flag == "--replicas":
                    spec["Mode"]["Replicated"]["Replicas"] = int(value)
            return ""
        if argv[0] == "nsenter":
            return self._iptables(self.netns[int(argv[2])], list(argv[7:]))
        raise AssertionError(f"unexpected command: {argv}")

    @staticmethod
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


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(swarm, "_client", fake)
    monkeypatch.setattr(swarm, "cli", fake.cli)
    return fake


def test_kill_asks_for_the_signal_on_that_many_tasks(engine: FakeEngine) -> None:
    killed = actions.kill_tasks("app", count=2, signal="SIGTERM", configuration=CONFIG)
    assert len(killed) == 2
    assert sorted(c for c in engine.calls if c.startswith("kill")) == sorted(f"kill {n} SIGTERM" for n in killed)
    with pytest.raises(ActivityFailed, match="asked for 4 containers, only 3 are running"):
        actions.kill_tasks("app", count=4, configuration=CONFIG)


def test_pause_and_unpause(engine: FakeEngine) -> None:
    before = engine.state()
    assert sorted(actions.pause_service("app", configuration=CONFIG)) == [f"{STACK}_app.{i}" for i in (1, 2, 3)]
    assert all(c.attrs["State"]["Paused"] for c in engine.ctrs if "_app." in c.name)
    assert sorted(actions.unpause_service("app", configuration=CONFIG)) == [f"{STACK}_app.{i}" for i in (1, 2, 3)]
    assert engine.state() == before
    assert actions.unpause_service("app", configuration=CONFIG) == []  # idempotent


def test_stop_remembers_the_replicas_and_restore_brings_them_back(engine: FakeEngine) -> None:
    before = engine.state()
    assert actions.stop_service("app", configuration=CONFIG) == 3
    assert engine.calls[-1] == ("docker service update --detach --label-add devsim.chaos.replicas=3 --replicas 0 "
                                f"{STACK}_app")
    assert actions.stop_service("app", configuration=CONFIG) == 3  # stopping twice keeps the first count
    assert actions.restore_service("app", configuration=CONFIG) == 3
    assert engine.calls[-1] == ("docker service update --detach --label-rm devsim.chaos.replicas --replicas 3 "
                                f"{STACK}_app")
    assert engine.state() == before


def test_loss_both_ways_and_its_removal(engine: FakeEngine) -> None:
    before = engine.state()
    changed = actions.add_network_fault("cache", loss_pct=30, inbound=True, configuration=CONFIG)
    assert changed == [f"{STACK}_cache.1: drop 30% both ways"]
    ns = engine.netns[next(c.attrs["State"]["Pid"] for c in engine.ctrs if c.name == f"{STACK}_cache.1")]
    assert ns.chains == {actions.CHAIN: ["! -o lo -m statistic --mode random --probability 0.3000 -j DROP"]}
    assert ns.output == [f"-j {actions.CHAIN}"]
    assert ns.input == [f"! -i lo -j {actions.CHAIN}"]
    assert actions.remove_network_fault("cache", configuration=CONFIG) == [f"{STACK}_cache.1: loss removed"]
    assert engine.state() == before


def test_a_partition_drops_everything_but_loopback(engine: FakeEngine) -> None:
    actions.partition_service("cache", configuration=CONFIG)
    ns = next(n for n in engine.netns.values() if n.chains)
    assert ns.chains[actions.CHAIN] == ["! -o lo -j DROP"]


def test_latency_goes_to_the_proxy_and_back_to_zero(engine: FakeEngine) -> None:
    before = engine.state()
    proxy = next(c for c in engine.ctrs if "dbproxy" in c.name)
    assert actions.add_network_fault("dbproxy", delay_ms=300, jitter_ms=20, configuration=CONFIG) == [
        f"{proxy.name}: 300 ms +/- 20 ms"]
    assert proxy.latency == "300 20"
    actions.remove_network_fault("dbproxy", configuration=CONFIG)
    assert engine.state() == before
    with pytest.raises(ActivityFailed, match="no latency proxy in front of 'cache'"):
        actions.add_network_fault("cache", delay_ms=100, configuration=CONFIG)
    with pytest.raises(ActivityFailed, match="delay and jitter must be >= 0 and loss between 0 and 100"):
        actions.add_network_fault("cache", loss_pct=101, configuration=CONFIG)


def test_cpu_stress_and_its_stop(engine: FakeEngine) -> None:
    before = engine.state()
    victims = actions.stress_cpu("app", seconds=5, count=2, configuration=CONFIG)
    assert len(victims) == 2
    assert sorted(actions.stop_cpu_stress("app", configuration=CONFIG)) == sorted(victims)
    assert engine.state() == before


def test_the_safety_net_undoes_every_kind_of_fault_at_once(engine: FakeEngine) -> None:
    before = engine.state()
    actions.pause_service("cache", configuration=CONFIG)
    actions.add_network_fault("app", loss_pct=50, configuration=CONFIG)
    actions.add_network_fault("dbproxy", delay_ms=300, configuration=CONFIG)
    actions.stress_cpu("app", seconds=30, count=1, configuration=CONFIG)
    actions.stop_service("dbproxy", configuration=CONFIG)
    assert engine.state() != before
    undone = actions.restore_everything(["app", "cache", "dbproxy", "missing"], configuration=CONFIG)
    assert undone == ["remove_network_fault(app)", "stop_cpu_stress(app)", "unpause_service(cache)",
                      "remove_network_fault(dbproxy)", "restore_service(dbproxy)"]
    assert engine.state() == before
    assert actions.restore_everything(["app", "cache", "dbproxy"], configuration=CONFIG) == []  # nothing left


def test_only_the_stacks_own_services_are_touched(engine: FakeEngine) -> None:
    with pytest.raises(ActivityFailed, match="the stack 'other' has no service 'app'"):
        actions.kill_tasks("app", configuration={"devsim_stack": "other"})
    assert not [c for c in engine.calls if c.startswith("kill")]
