"""The stack's PostgreSQL cluster as Patroni sees it, through Patroni's REST API and psql
run inside the node containers (nothing of the cluster is published to the host).

Two switches of the stack act on Patroni's dynamic configuration (kept in etcd) instead of
on container environments, so that flipping them restarts nothing:
  DB_SYNCHRONOUS_MODE=on|off       Patroni's synchronous_mode (on as shipped);
  DB_PATRONI_TIMINGS=tuned|default|slow  the leader lease and loop: tuned (ttl 20, loop_wait 2,
                                   retry_timeout 9), Patroni's defaults (30, 10, 10), or slow
                                   (60, 10, 25): a lease twice the failover experiment's 30 s
                                   RTO claim, its negative control (Patroni's defaults measured
                                   26-32 s, on both sides of the claim).
Each satisfies Patroni's rule loop_wait + 2 * retry_timeout <= ttl.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from harness.driver import ContainerInfo, StackDriver
from harness.errors import ConfigError, InfrastructureError

TIMINGS = {
    "tuned": {"ttl": 20, "loop_wait": 2, "retry_timeout": 9},
    "default": {"ttl": 30, "loop_wait": 10, "retry_timeout": 10},
    "slow": {"ttl": 60, "loop_wait": 10, "retry_timeout": 25},
}
SWITCHES = {"DB_SYNCHRONOUS_MODE": ("on", "off"), "DB_PATRONI_TIMINGS": tuple(TIMINGS)}
DATABASE = "devsim"


def member_services(stack_dir: Path) -> tuple[str, ...]:
    """The services of stack.yml that are Patroni nodes (they set PATRONI_NAME)."""
    try:
        doc = yaml.safe_load((stack_dir / "stack.yml").read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {stack_dir / 'stack.yml'}: {exc}") from exc
    return tuple(name for name, svc in (doc.get("services") or {}).items()
                 if isinstance((svc or {}).get("environment"), dict) and "PATRONI_NAME" in svc["environment"])


def dynamic_config(overrides: dict[str, str]) -> dict[str, Any]:
    """The Patroni dynamic configuration the stack's switches ask for."""
    for key, allowed in SWITCHES.items():
        if overrides.get(key, allowed[0]) not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {overrides[key]!r}")
    timings = TIMINGS[overrides.get("DB_PATRONI_TIMINGS", "tuned")]
    return {**timings, "synchronous_mode": overrides.get("DB_SYNCHRONOUS_MODE", "on") == "on"}


@dataclass(frozen=True)
class Member:
    name: str
    role: str  # leader, sync_standby or replica
    state: str  # running (or streaming), starting, stopped, ...
    timeline: int
    lag: int | None  # bytes behind the leader, None for the leader or when unknown

    @property
    def is_leader(self) -> bool:
        return self.role in ("leader", "master", "standby_leader")


@dataclass(frozen=True)
class ClusterView:
    members: tuple[Member, ...]

    @property
    def leaders(self) -> list[Member]:
        return [m for m in self.members if m.is_leader]

    @property
    def sync_standbys(self) -> list[Member]:
        return [m for m in self.members if m.role == "sync_standby"]

    def with_sync_standbys(self, confirmed: set[str]) -> ClusterView:
        """The view with only the `confirmed` members left as synchronous standbys; any other
        one Patroni lists as such is shown as the plain replica it is."""
        return ClusterView(tuple(replace(m, role="replica") if m.role == "sync_standby" and m.name not in confirmed
                                 else m for m in self.members))

    def role_of(self, name: str) -> str:
        return next((m.role for m in self.members if m.name == name), "absent")

    def healthy(self, expected: int, synchronous: bool) -> bool:
        """One leader, every node running, each replica on the leader's timeline, and (in
        synchronous mode) a synchronous standby. A killed leader comes back running on the
        timeline it led, before Patroni finds it must rewind and stops it again (CI read the
        cluster whole, then not, a second apart): only the rewound node follows the leader."""
        running = [m for m in self.members if m.state in ("running", "streaming")]
        leaders = self.leaders
        return (len(leaders) == 1 and len(running) == expected == len(self.members)
                and all(m.timeline == leaders[0].timeline for m in self.members)
                and (not synchronous or len(self.sync_standbys) >= 1))

    def routes(self) -> dict[str, set[str]]:
        """Where the router (dbrouter) should send connections: writes ("primary") to the
        leader only, reads ("replicas") to every running replica."""
        return {"primary": {m.name for m in self.leaders},
                "replicas": {m.name for m in self.members
                             if not m.is_leader and m.state in ("running", "streaming")}}

    def router_disagreement(self, up: dict[str, set[str]]) -> str:
        """What the router's UP servers per backend (`up`) get wrong against the roles,
        "" when they agree."""
        wrong = []
        for backend, wanted in self.routes().items():
            seen = up.get(backend, set())
            if seen != wanted:
                wrong.append(f"{backend} -> {', '.join(sorted(seen)) or 'nothing'}"
                             f" (Patroni: {', '.join(sorted(wanted)) or 'nothing'})")
        return "; ".join(wrong)

    def summary(self) -> str:
        if not self.members:
            return "no member registered"
        parts = [f"{m.name} {m.role.replace('_', ' ')} ({m.state}"
                 + (f", lag {m.lag} B" if m.lag else "") + ")" for m in self.members]
        return ", ".join(parts)


def parse_cluster(data: dict[str, Any]) -> ClusterView:
    """Patroni's GET /cluster answer as a ClusterView."""
    members = []
    for m in data.get("members", []):
        lag = m.get("lag")
        members.append(Member(str(m.get("name")), str(m.get("role")), str(m.get("state")),
                              int(m.get("timeline") or 0), lag if isinstance(lag, int) else None))
    return ClusterView(tuple(sorted(members, key=lambda m: m.name)))


class Cluster:
    """The Patroni nodes of one stack, reached by an exec into their containers."""

    def __init__(self, driver: StackDriver, members: tuple[str, ...]) -> None:
        self.driver, self.stack, self.members = driver, driver.stack, members

    def containers(self, member: str) -> list[ContainerInfo]:
        return self.driver.containers(member)

    def _exec(self, container: ContainerInfo, argv: list[str]) -> tuple[int, str]:
        return self.driver.exec(container, argv, user="postgres")

    def rest(self, path: str, method: str = "GET", body: dict[str, Any] | None = None,
             member: str = "") -> tuple[int, Any]:
        """One call to Patroni's REST API of `member` (else of the first node that answers)."""
        # Changes need the API's password: curl reads it from the node's own file (written by
        # its entrypoint from the Docker secret), so it never passes through the harness.
        argv = ["curl", "-sS", "-m", "5", "-K", "/tmp/patroni-api.curlrc", "-X", method, "-w", "\n%{http_code}",
                f"http://127.0.0.1:8008{path}"]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
        last = "no node container is running"
        for name in ([member] if member else list(self.members)):
            for container in self.containers(name):
                code, out = self._exec(container, argv)
                text, _, status = out.rstrip("\n").rpartition("\n")
                if code == 0 and status.isdigit():
                    try:
                        return int(status), json.loads(text) if text.strip() else None
                    except json.JSONDecodeError:
                        return int(status), text
                last = out.strip()[-200:]
        raise InfrastructureError(f"Patroni's REST API did not answer {method} {path}: {last}")

    def view(self) -> ClusterView:
        status, data = self.rest("/cluster")
        if status != 200 or not isinstance(data, dict):
            raise InfrastructureError(f"Patroni's /cluster answered {status}: {data}")
        return self._confirm_sync(parse_cluster(data))

    def _confirm_sync(self, view: ClusterView) -> ClusterView:
        """Patroni's /cluster calls "sync_standby" whoever its /sync key lists, even when a
        former leader wrote the key and the new one has not rewritten it yet (seen after a
        switchover: a stale name, then none for a loop while the leader picked another). A
        standby counts only when the leader's PostgreSQL also replicates to it synchronously."""
        if not view.sync_standbys or len(view.leaders) != 1:
            return view
        try:
            rows = self.sql("SELECT application_name FROM pg_stat_replication WHERE sync_state = 'sync'",
                            member=view.leaders[0].name)
        except InfrastructureError:
            rows = []  # the leader's PostgreSQL is not answering: nothing is confirmed
        return view.with_sync_standbys({r[0] for r in rows})

    def try_view(self) -> ClusterView | None:
        """The view, or None while no node answers (the one asked may have just been killed)."""
        try:
            return self.view()
        except InfrastructureError:
            return None

    def synchronous(self) -> bool:
        """Whether synchronous_mode is on in the configuration in force (on when unknown)."""
        try:
            return bool(self.config().get("synchronous_mode", True))
        except InfrastructureError:
            return True

    def configure(self, dynamic: dict[str, Any]) -> None:
        status, data = self.rest("/config", method="PATCH", body=dynamic)
        if status != 200:
            raise InfrastructureError(f"Patroni refused the configuration {dynamic}: {status} {data}")

    def config(self) -> dict[str, Any]:
        status, data = self.rest("/config")
        if status != 200 or not isinstance(data, dict):
            raise InfrastructureError(f"Patroni's /config answered {status}: {data}")
        return data

    def leader(self) -> str:
        leaders = self.view().leaders
        if len(leaders) != 1:
            raise InfrastructureError(f"the cluster has {len(leaders)} leaders, not one")
        return leaders[0].name

    def sync_roles(self) -> None:
        """The roles' passwords set from the Docker secrets, on the leader (see
        target-stack/db/sync-roles.sh): a secret made anew by `up` is what the cluster takes."""
        name = self.leader()
        found = self.containers(name)
        if not found:
            raise InfrastructureError(f"no running container for {name}")
        code, out = self._exec(found[0], ["bash", "/usr/local/share/devsim/sync-roles.sh"])
        if code != 0:
            raise InfrastructureError(f"setting the roles' passwords on {name} failed: {out.strip()[-300:]}")

    def sql(self, query: str, member: str = "") -> list[list[str]]:
        """A query as the superuser on `member` (default: the leader), rows of text fields."""
        name = member or self.leader()
        found = self.containers(name)
        if not found:
            raise InfrastructureError(f"no running container for {name}")
        code, out = self._exec(found[0], ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", DATABASE,
                                          "-v", "ON_ERROR_STOP=1", "-AtF", "\t", "-c", query])
        if code != 0:
            raise InfrastructureError(f"psql on {name} failed: {out.strip()[-300:]}")
        return [line.split("\t") for line in out.splitlines() if line]


def discover(driver: StackDriver) -> Cluster:
    """The cluster of a running stack: its services whose tasks set PATRONI_NAME."""
    members = sorted(s.name for s in driver.services() if "PATRONI_NAME" in s.env)
    if not members:
        raise InfrastructureError(f"the stack {driver.stack!r} runs no Patroni node")
    return Cluster(driver, tuple(members))


def switch_value(source: Mapping[str, str], config: Mapping[str, Any]) -> str | None:
    """A switch's value as Patroni's dynamic configuration shows it, for a switch declared
    with `read: {patroni: synchronous_mode | timings}`; None for any other source."""
    what = source.get("patroni")
    if what == "synchronous_mode":
        return "on" if config.get("synchronous_mode") else "off"
    if what == "timings":
        for name, wanted in TIMINGS.items():
            if all(config.get(k) == v for k, v in wanted.items()):
                return name
        return "custom"
    return None
