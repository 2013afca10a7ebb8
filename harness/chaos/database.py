"""Chaos Toolkit actions and probes for the stack's Patroni cluster: kill the leader, switch
over, and wait until the cluster is whole again.

Patroni does the failing over; these only break things and watch. The cluster is reached
through Patroni's REST API inside the node containers (see harness.target.patroni).
"""

from __future__ import annotations

import time
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from harness.chaos import actions, engine, registry, runstate
from harness.chaos.evidence import Refuted
from harness.errors import InfrastructureError
from harness.stack.waiting import Check, Waiter
from harness.target import patroni

__all__ = [
    "db_cluster_whole",
    "db_leaders",
    "kill_db_leader",
    "seconds_until_db_leader",
    "seconds_until_db_whole",
    "switchover_db",
    "wait_until_db_whole",
]

_last: dict[str, Any] = {"killed": "", "at": None}


def _cluster(configuration: Configuration) -> patroni.Cluster:
    try:
        return patroni.discover(engine.driver(configuration))
    except InfrastructureError as exc:
        raise ActivityFailed(exc.one_line()) from exc


def _cluster_logs(cluster: patroni.Cluster) -> list[str]:
    return [line for member in cluster.members for line in cluster.driver.logs(member, lines=2)]


def _since_fault() -> float:
    window = runstate.fault_window()
    return window[0] if window else time.time()


def _since_kill() -> float:
    """When this fault killed the leader (after any cut-off of the replicas before it); the
    fault's start when it killed none (a switchover) or the kill was an earlier run's."""
    start = _since_fault()
    killed_at = _last.get("at")
    return float(killed_at) if killed_at is not None and killed_at >= start else start


@registry.fault(undo="wait_until_db_whole")
def kill_db_leader(signal: str = "SIGKILL", replicas_cut_off_s: float | str = 0,
                   configuration: Configuration = None) -> dict[str, Any]:
    """Kills the container of the current Patroni leader with `signal` (a node crash).

    With `replicas_cut_off_s` > 0 the replicas are first cut off the network that long (every
    packet in and out dropped, as a failed replication link would) and reconnected right
    after the kill; the safety net reconnects them too if the run is cut short.
    """
    cluster = _cluster(configuration)
    try:
        leader = cluster.leader()
    except InfrastructureError as exc:
        raise ActivityFailed(f"no leader to kill: {exc}") from exc
    cut_off = float(replicas_cut_off_s or 0)
    replicas = [m for m in cluster.members if m != leader] if cut_off > 0 else []
    try:
        for member in replicas:
            actions.add_network_fault(member, loss_pct=100, inbound=True, configuration=configuration)
        time.sleep(cut_off)
        victims = cluster.containers(leader)
        if not victims:
            raise ActivityFailed(f"the leader {leader} has no running container")
        applied_at = time.time()
        for container in victims:
            cluster.driver.kill(container, signal)
    except InfrastructureError as exc:
        raise ActivityFailed(f"cannot kill the leader {leader}: {exc.one_line()}") from exc
    finally:
        for member in replicas:
            actions.remove_network_fault(member, configuration=configuration)
    _last.update(killed=leader, at=applied_at)
    # applied_at: the kill itself, after any cut-off (the `applied` window starts there)
    return {"leader": leader, "signal": signal, "replicas_cut_off_s": cut_off, "applied_at": applied_at}


LEADER_MOVED = "leader name does not match"  # Patroni's 412 when the named leader no longer leads


@registry.fault(undo="wait_until_db_whole")
def switchover_db(candidate: str = "", configuration: Configuration = None) -> dict[str, Any]:
    """A planned switchover through Patroni's REST API, to `candidate` or else to the
    synchronous standby; returns once another node leads."""
    cluster = _cluster(configuration)
    _last.update(killed="", at=None)  # nobody is killed: the old leader may lead again later
    try:
        seen = cluster.view()
        leader = cluster.leader()
        # In synchronous mode only a synchronous standby may take over without losing commits.
        candidate = candidate or next((m.name for m in seen.sync_standbys), "")
        body = {"leader": leader, **({"candidate": candidate} if candidate else {})}
        # 412: Patroni found no good candidate *now* (the leader could not fetch the candidate's
        # status in time); nothing has happened yet, so asking again is safe, for up to 20 s
        # (two loops of Patroni's default loop_wait). A candidate that stays unreachable for
        # its peers was a stale DNS cache in Patroni (fixed in the db image's entrypoint).
        # A 412 "leader name does not match" once asking again means the leadership has moved
        # since the first ask (CI: the first answer came late, 20 more asks all got it): the
        # switchover happened; the wait below checks that another node leads.
        def moved_already() -> bool:
            return attempt > 1 and status == 412 and LEADER_MOVED in str(answer)

        attempt = 1
        status, answer = cluster.rest("/switchover", method="POST", body=body)
        while status == 412 and attempt < 20 and not moved_already():
            time.sleep(1)
            attempt += 1
            status, answer = cluster.rest("/switchover", method="POST", body=body)
    except InfrastructureError as exc:
        raise ActivityFailed(exc.one_line()) from exc
    if status != 200 and not moved_already():
        raise ActivityFailed(f"Patroni refused the switchover from {leader} ({attempt} attempts): {status} {answer}")
    def moved() -> Check:
        now = cluster.try_view()
        led = now.leaders[0].name if now and len(now.leaders) == 1 else ""
        return Check(bool(led) and led != leader, led)

    last = Waiter(30, 0.2).until(moved)
    if last is None:
        raise ActivityFailed(f"Patroni accepted the switchover but {leader} is still the leader after 30 s")
    return {"from": leader, "to": last.status, "changed": True, "attempts": attempt}


def db_leaders(configuration: Configuration = None) -> int:
    """How many members hold the leader role now (one, in a healthy cluster)."""
    seen = _cluster(configuration).try_view()
    return len(seen.leaders) if seen else 0


def db_cluster_whole(configuration: Configuration = None) -> bool:
    """One leader, every node running, and a synchronous standby when synchronous_mode is on."""
    cluster = _cluster(configuration)
    seen = cluster.try_view()
    return bool(seen and seen.healthy(len(cluster.members), cluster.synchronous()))


def seconds_until_db_leader(timeout: float = 60, configuration: Configuration = None) -> float:
    """Seconds from the kill (else the start of the fault) until exactly one member other than
    the one killed (if any) is the leader."""
    cluster = _cluster(configuration)
    start = _since_kill()

    def new_leader() -> Check:
        seen = cluster.try_view()
        return Check(bool(seen and len(seen.leaders) == 1 and seen.leaders[0].name != _last["killed"]), "")

    if Waiter(float(timeout), 0.25).until(new_leader) is None:
        raise Refuted(f"no new leader within {timeout:g} s", at_least=round(time.time() - start, 3))
    return round(time.time() - start, 3)


def seconds_until_db_whole(timeout: float = 90, configuration: Configuration = None) -> float:
    """Seconds from the kill (else the start of the fault) until the cluster is whole again: one
    leader and every node back, the one killed running as a replica."""
    cluster = _cluster(configuration)
    start = _since_kill()
    synchronous = cluster.synchronous()

    def whole_again() -> Check:
        seen = cluster.try_view()
        return Check(bool(seen and seen.healthy(len(cluster.members), synchronous)
                          and (not _last["killed"] or seen.role_of(_last["killed"]) != "leader")), "")

    if Waiter(float(timeout), 0.5).until(whole_again) is None:
        raise Refuted(f"the database cluster is not whole after {timeout:g} s",
                      at_least=round(time.time() - start, 3))
    return round(time.time() - start, 3)


@registry.undo
def wait_until_db_whole(timeout: float = 150, configuration: Configuration = None) -> str:
    """Rollback: waits until the cluster is whole (whoever leads); returns its roles."""
    cluster = _cluster(configuration)
    synchronous = cluster.synchronous()

    def whole() -> Check:
        seen = cluster.try_view()
        return Check(bool(seen and seen.healthy(len(cluster.members), synchronous)),
                     seen.summary() if seen else "Patroni not answering")

    last = Waiter(float(timeout), 1.0).until(whole)
    if last is None:
        raise engine.timed_out(f"the database cluster is not whole after {timeout:g} s: {whole().status}",
                               _cluster_logs(cluster))
    return last.status
