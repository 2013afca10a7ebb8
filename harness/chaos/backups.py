"""Chaos Toolkit actions and probes for backups and restores: a disaster that destroys every
database node's data, a mistake that deletes rows, and the restore that must undo either
(harness/target/restore.py, the same as `devsim restore`).

pgBackRest does the backing up (the stack's `backup` and `offsite` services); these only
break things, restore and count.
"""

from __future__ import annotations

import time
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from harness.chaos import engine, registry, window
from harness.chaos.engine import activity
from harness.config import Settings
from harness.errors import InfrastructureError
from harness.progress import Progress
from harness.stack.waiting import Check, Waiter
from harness.target import backups, patroni, restore

__all__ = [
    "archive_now",
    "db_rows",
    "delete_rows_by_mistake",
    "destroy_db_data",
    "restore_db",
    "restore_db_if_lost",
    "write_marker",
    "writes_since_backup",
]

_state: dict[str, Any] = {}  # what the actions remember for the probes: marker, deleted rows, times


def _settings(configuration: Configuration) -> Settings:
    return engine.settings(configuration)


def _cluster(configuration: Configuration) -> patroni.Cluster:
    try:
        return patroni.discover(engine.driver(configuration))
    except InfrastructureError as exc:
        raise ActivityFailed(exc.one_line()) from exc


@registry.fault(undo="restore_db_if_lost")
@activity
def destroy_db_data(configuration: Configuration = None) -> dict[str, Any]:
    """Every database node's data destroyed at once: its data directory emptied on its volume,
    then its container killed. The nodes come back empty, to a cluster whose leader is gone:
    nothing but a restore brings the data back."""
    cluster = _cluster(configuration)
    driver = cluster.driver
    destroyed = []
    for member in cluster.members:
        for container in driver.containers(member):
            # PostgreSQL writes files while it runs (a checkpoint, a new WAL segment), which
            # would make `rm` fail half-way: every process but Patroni (PID 1) and this shell
            # is stopped first, and the container killed at once after.
            code, out = driver.exec(container, ["sh", "-c", 'kill -STOP -1; rm -rf "$PGDATA"'])
            if code != 0:
                raise ActivityFailed(f"cannot empty {member}'s data directory: {out.strip()[-200:]}")
            driver.kill(container, "SIGKILL")
            destroyed.append(member)
    _state["disaster_at"] = time.time()
    return {"destroyed": destroyed}


@registry.step
@activity
def restore_db(target: str = "latest", repo: int | str = 1, configuration: Configuration = None) -> dict[str, Any]:
    """`devsim restore --to TARGET --repo REPO`, waiting for the steady state. The target
    `before-the-mistake` is the time delete_rows_by_mistake noted just before it deleted."""
    if target == "before-the-mistake":
        if "mistake_at" not in _state:
            raise ActivityFailed("no mistake was made in this run: nothing to restore to before it")
        target = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(_state["mistake_at"])) + \
            f".{int(_state['mistake_at'] % 1 * 1e6):06d}Z"
    _state["restore_started"] = time.time()
    done = restore.restore(engine.driver(configuration), _settings(configuration), target, int(repo),
                           Progress(quiet=True))
    _state["restored_at"] = time.time()
    return {"target": done.target, "repo": done.repo, "backup": done.backup,
            "seconds_to_leader": done.seconds_to_leader, "seconds_to_steady_state": done.seconds_to_steady_state}


@registry.undo
@activity
def restore_db_if_lost(configuration: Configuration = None) -> str:
    """The rollback: a cluster that has no leader a minute after its data was destroyed is
    restored to the latest point; rows this run deleted by mistake, and no restore has brought
    back since, are restored to before the mistake; anything else is left alone."""
    if _state.get("mistake_at", 0) > _state.get("restored_at", 0):
        restore_db("before-the-mistake", 1, configuration=configuration)
        return "restored to before the mistake from repository 1"
    cluster = _cluster(configuration)

    def leads() -> Check:
        try:
            return Check(bool(cluster.leader()), "")
        except InfrastructureError:
            return Check(False, "")

    if Waiter(60, 2).until(leads) is not None:
        return "the cluster has a leader: nothing to restore"
    restore_db("latest", 1, configuration=configuration)
    return "restored to the latest point from repository 1"


def _sql(configuration: Configuration, query: str) -> list[list[str]]:
    try:
        return _cluster(configuration).sql(query)
    except InfrastructureError as exc:
        raise ActivityFailed(exc.one_line()) from exc


@activity
def writes_since_backup(repo: int | str = 1, at_least: float = 0, timeout: float = 300,
                        configuration: Configuration = None) -> float:
    """Seconds of this run's acknowledged writes that the newest backup in repository REPO
    does not hold (from the later of its end and the run's first write to now), once there
    are AT_LEAST (waiting up to TIMEOUT). A disaster experiment waits for it: with a
    younger backup, or a shorter load, every write the recovery-point claim is about would
    be in the backup, and the claim could not fail."""
    driver = engine.driver(configuration)
    span: list[float] = []
    first_write: list[float] = []  # read from the log until found; it does not change after

    def enough() -> Check:
        try:
            found = backups.listing(driver, (int(repo),))
        except InfrastructureError as exc:
            return Check(False, exc.one_line())
        if not found:
            return Check(False, f"repository {repo} holds no backup yet")
        if not first_write:
            writes = [r.ts_ms / 1000 for r in window.request_log(configuration) if r.ack]
            first_write.extend([min(writes)] if writes else [])
        if not first_write:
            return Check(False, "no write acknowledged yet")
        span[:] = [time.time() - max(max(b.stopped for b in found), first_write[0])]
        return Check(span[0] >= float(at_least), f"{span[0]:.0f} s of writes since the newest backup")

    if Waiter(float(timeout), 2).until(enough) is None:
        raise ActivityFailed(f"not {at_least} s of writes since the newest backup in repository {repo} "
                             f"within {timeout} s" + (f" (only {span[0]:.0f} s)" if span else ""))
    return round(span[0], 1)


@registry.step
@activity
def archive_now(configuration: Configuration = None) -> float:
    """Switches the leader to a new WAL segment and waits until the old one is in both
    repositories (archive_timeout would do it within a minute): seconds it took."""
    started = time.monotonic()
    [[lsn]] = _sql(configuration, "SELECT pg_walfile_name(pg_switch_wal())")

    def archived() -> Check:
        # '-' for nothing archived yet (a fresh cluster): psql prints an empty field as an
        # empty line, which reads as no row at all. It sorts before every segment's name.
        try:
            [[last]] = _cluster(configuration).sql("SELECT coalesce(last_archived_wal, '-') FROM pg_stat_archiver")
        except InfrastructureError as exc:
            return Check(False, exc.one_line())
        return Check(last >= lsn, f"archived up to {'nothing' if last == '-' else last}, waiting for {lsn}")

    if Waiter(90, 0.5).until(archived) is None:
        raise ActivityFailed(f"WAL segment {lsn} was not archived within 90 s")
    return round(time.monotonic() - started, 3)


@registry.step
@activity
def write_marker(configuration: Configuration = None) -> str:
    """A marker row written now (the item the restore must keep); its id."""
    marker = f"restore-marker-{time.time():.6f}"
    [[created]] = _sql(configuration, "WITH m AS (INSERT INTO items (id, payload, written_by) VALUES "
                                      f"('{marker}', '{{}}', 'chaos') RETURNING created_at) "
                                      "SELECT extract(epoch FROM created_at) FROM m")
    _state.update(marker=marker, marker_at=float(created))
    return marker


@registry.fault(undo="restore_db_if_lost")
@activity
def delete_rows_by_mistake(configuration: Configuration = None) -> int:
    """The mistake: every item written before the marker deleted, in one DELETE through the
    app's database. Notes how many there were and the time just before it (the point to
    restore to); returns how many it deleted."""
    if "marker_at" not in _state:
        raise ActivityFailed("write_marker must run first")
    older = f"created_at < to_timestamp({_state['marker_at']})"
    [[before]] = _sql(configuration, f"SELECT count(*) FROM items WHERE {older}")
    time.sleep(2.0)
    _state["mistake_at"] = time.time() - 1.0
    [[deleted]] = _sql(configuration, f"WITH gone AS (DELETE FROM items WHERE {older} RETURNING id) "
                                      "SELECT count(*) FROM gone")
    _state.update(before_mistake=int(before), deleted=int(deleted))
    return int(deleted)


@activity
def db_rows(which: str = "deleted-missing", configuration: Configuration = None) -> int:
    """After the restore: `deleted-missing` how many of the rows there were before the mistake
    are missing (0: all back); `marker` 1 when the marker is there; `written-after` how many
    rows written between the restore point and the restore the leader holds (none should be:
    the restore went back to before them)."""
    if "marker" not in _state or "restore_started" not in _state:
        raise ActivityFailed("write_marker and restore_db must run first")
    if which == "deleted-missing":
        older = f"created_at < to_timestamp({_state['marker_at']})"
        [[count]] = _sql(configuration, f"SELECT count(*) FROM items WHERE {older}")
        return int(_state["before_mistake"]) - int(count)
    if which == "marker":
        [[count]] = _sql(configuration, f"SELECT count(*) FROM items WHERE id = '{_state['marker']}'")
        return int(count)
    if which == "written-after":
        between = (f"created_at > to_timestamp({_state['mistake_at']}) "
                   f"AND created_at < to_timestamp({_state['restore_started']})")
        [[count]] = _sql(configuration, f"SELECT count(*) FROM items WHERE {between}")
        return int(count)
    raise ActivityFailed(f"which must be deleted-missing, marker or written-after, not {which!r}")
