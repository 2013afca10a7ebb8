"""Backups and restores without a stack: what pgBackRest's `info` says is read right, and
every restore that cannot be done is refused before anything is touched."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import signal
from collections.abc import Sequence
from typing import Any

import pytest

from harness.config import load_settings
from harness.driver.model import ContainerInfo
from harness.errors import InfrastructureError, Interrupted, UsageError
from harness.progress import Progress
from harness.target import backups, restore
from harness.target.devsim import DevsimStack
from tests.unit.fakedriver import FakeDriver

# The shape of `pgbackrest info --output=json` (pgBackRest 2.45), written out by hand.
INFO: list[dict[str, Any]] = [{
    "name": "devsim", "status": {"code": 0, "message": "ok"},
    "archive": [{"id": "15-1", "min": "000000010000000000000003", "max": "00000001000000000000000C"}],
    "backup": [
        {"label": "20261201-100000F", "type": "full", "error": False,
         "archive": {"start": "000000010000000000000003", "stop": "000000010000000000000003"},
         "info": {"delta": 31457280, "size": 31457280, "repository": {"delta": 4194304, "size": 4194304}},
         "timestamp": {"start": 1796119200, "stop": 1796119212}},
        {"label": "20261201-100000F_20261201-110000I", "type": "incr", "error": False,
         "archive": {"start": "000000010000000000000008", "stop": "000000010000000000000008"},
         "info": {"delta": 1048576, "size": 31457280, "repository": {"delta": 262144, "size": 4456448}},
         "timestamp": {"start": 1796122800, "stop": 1796122803}},
    ],
}]


def test_pgbackrest_info_is_read_into_backups_oldest_first() -> None:
    found = backups.parse_info(2, json.dumps(INFO))
    assert [(b.repo, b.label, b.kind) for b in found] == [
        (2, "20261201-100000F", "full"), (2, "20261201-100000F_20261201-110000I", "incr")]
    full = found[0]
    assert (full.started, full.stopped, full.seconds) == (1796119200.0, 1796119212.0, 12.0)
    assert (full.stored_bytes, full.database_bytes) == (4194304, 31457280)
    assert (full.wal_start, full.wal_stop) == ("000000010000000000000003", "000000010000000000000003")


def test_an_answer_that_is_not_json_is_one_clear_error() -> None:
    with pytest.raises(InfrastructureError, match="repository 1 answered something that is not pgBackRest's JSON"):
        backups.parse_info(1, "ERROR: [055]: unable to load info file")


@pytest.mark.parametrize(("status", "message"), [
    ({"code": 3, "message": "missing stanza data"},
     "repository 2 cannot be used: pgBackRest says 'missing stanza data' (status 3)"),
    ({"code": 99, "message": "other"},
     "repository 2 cannot be used: pgBackRest says \"[FormatError] unable to load info file "
     "'/var/lib/pgbackrest/repo2/backup/devsim/backup.info' or "
     "'/var/lib/pgbackrest/repo2/backup/devsim/backup.info.copy': FormatError: key/value found outside of "
     "section at line 1: garbage\" (status 99)"),
])
def test_a_missing_or_corrupt_repository_is_one_clear_error(status: dict[str, Any], message: str) -> None:
    # pgBackRest's answer (2.45) for a repository whose files are gone or unreadable: exit 0,
    # the trouble in the stanza's status, the reason in the repository's (written out by hand
    # from a repository whose backup.info was overwritten)
    repo_status = {"code": status["code"], "message": (
        "[FormatError] unable to load info file '/var/lib/pgbackrest/repo2/backup/devsim/backup.info' or "
        "'/var/lib/pgbackrest/repo2/backup/devsim/backup.info.copy':\nFormatError: key/value found outside "
        "of section at line 1: garbage") if status["code"] == 99 else status["message"]}
    with pytest.raises(InfrastructureError) as caught:
        backups.parse_info(2, json.dumps([{"name": "devsim", "status": status, "backup": [],
                                           "repo": [{"key": 2, "status": repo_status}]}]))
    assert caught.value.one_line() == message


@pytest.mark.parametrize("status", [{"code": 1, "message": "missing stanza path"},
                                    {"code": 2, "message": "no valid backups"}])
def test_a_repository_with_no_backup_yet_is_an_empty_list(status: dict[str, Any]) -> None:
    answer = [{"name": "devsim", "status": status, "backup": []}]
    assert backups.parse_info(1, json.dumps(answer)) == []


NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("latest", None),
    ("2026-12-01T10:30:00Z", dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC)),
    ("2026-12-01 10:30:00", dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC)),  # no zone: UTC
    ("2026-12-01T11:30:00+01:00", dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC)),
])
def test_a_target_is_latest_or_a_time_read_as_utc(text: str, expected: dt.datetime | None) -> None:
    assert restore.parse_target(text, NOW) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("2026-12-01T12:00:01Z", "--to 2026-12-01T12:00:01Z is in the future (it is 2026-12-01 12:00:00 UTC now)"),
    ("yesterday", "--to takes `latest` or a time such as 2026-12-01T21:00:00Z, not 'yesterday'"),
])
def test_a_target_in_the_future_or_unreadable_is_refused(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        restore.parse_target(text, NOW)
    assert caught.value.one_line() == message


class Repositories(FakeDriver):
    """The stack's services, with repository hosts that answer pgBackRest's info and the
    newest archived WAL's time."""

    def __init__(self, info: list[dict[str, Any]], newest_wal: float | None) -> None:
        super().__init__(services={"backup": 1, "offsite": 1, "etcd": 1, "db1": 1, "db2": 1, "db3": 1})
        self.info, self.newest_wal = info, newest_wal

    def exec(self, container: ContainerInfo, argv: Sequence[str], user: str = "",
             detach: bool = False) -> tuple[int, str]:
        self.calls.append(f"exec {container.name} {argv[0]} {argv[-1][:20]}")
        if argv[0] == "pgbackrest" and "info" in argv:
            return 0, json.dumps(self.info)
        if argv[:2] == ["sh", "-c"] and "find /var/lib/pgbackrest/repo" in argv[2] and "/archive/" in argv[2]:
            return 0, "" if self.newest_wal is None else f"{self.newest_wal}\n"
        raise AssertionError(f"a refused restore must not run {argv}")


@pytest.mark.parametrize(("target", "newest_wal", "message"), [
    ("2026-12-01T09:59:00Z", 1796127200.0,
     "--to 2026-12-01 09:59:00 UTC is before the end of the oldest backup in repository 1 (2026-12-01 10:00:12 UTC)"),
    ("2026-12-01T11:00:00Z", 1796122740.0,
     "--to 2026-12-01 11:00:00 UTC is after the newest WAL archived in repository 1 (2026-12-01 10:59:00 UTC): "
     "what was written after it cannot be replayed"),
])
def test_a_target_outside_what_the_repository_holds_is_refused_before_any_node_stops(
        target: str, newest_wal: float, message: str) -> None:
    driver = Repositories(INFO, newest_wal)
    settings = load_settings({})
    with pytest.raises(UsageError) as caught:
        restore.restore(driver, settings, target, 1, progress=None)  # type: ignore[arg-type]
    assert caught.value.one_line() == message
    assert [s.replicas for s in driver.services() if s.name.startswith("db")] == [1, 1, 1]  # nothing stopped


def test_a_repository_without_backups_is_refused() -> None:
    driver = Repositories([{"name": "devsim", "backup": []}], None)
    with pytest.raises(UsageError, match=r"repository 2 \(offsite\) holds no backup yet"):
        restore.check(driver, load_settings({}), "latest", 2)


def test_the_point_in_time_starts_from_the_newest_backup_that_ended_before_it() -> None:
    driver = Repositories(INFO, 1796127200.0)
    when, label = restore.check(driver, load_settings({}), "2026-12-01T10:30:00Z", 1)
    assert (when, label) == (dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC), "20261201-100000F")  # not the incr
    _, label = restore.check(driver, load_settings({}), "2026-12-01T11:05:00Z", 1)
    assert label == "20261201-100000F_20261201-110000I"  # the incremental ended at 11:00:03


class Restoring(Repositories):
    """A restore that gets Ctrl-C at one of its changes (`interrupt_at`: 0 for the first);
    etcd takes what it is sent."""

    def __init__(self, interrupt_at: int) -> None:
        super().__init__(INFO, 1796122740.0)
        self.interrupt_at, self.changes = interrupt_at, 0
        self.etcd: list[tuple[str, str]] = []  # each etcdctl command, and its input

    def _change(self) -> None:
        if self.changes == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
        self.changes += 1

    def exec(self, container: ContainerInfo, argv: Sequence[str], user: str = "",
             detach: bool = False, timeout: float = 300.0) -> tuple[int, str]:
        if argv[:2] == ["sh", "-c"] and "etcdctl" in argv[2]:
            command = argv[2].split("--command-timeout=10s ", 1)[1]
            fed = argv[2].split("printf '%s' ", 1)[1].split(" | ", 1)[0] if "printf" in argv[2] else ""
            self.etcd.append((command, shlex.split(fed)[0] if fed else ""))
            self._change()
            return 0, "SUCCESS\n\nOK\n\n7\n"  # as etcdctl 3.4 answers the transaction
        return super().exec(container, argv, user, detach)

    def update(self, service: str, **kwargs: Any) -> None:
        self._change()
        super().update(service, **kwargs)


# The changes a restore makes until its restoring node runs: db1, db2, db3 stopped, the order
# placed, db1 started.
@pytest.mark.parametrize("interrupt_at", range(5))
def test_ctrl_c_at_any_critical_step_waits_until_the_order_is_placed_whole_and_the_restoring_node_runs(
        interrupt_at: int) -> None:
    driver = Restoring(interrupt_at)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(Interrupted) as caught:
            restore.restore(driver, load_settings({}), "latest", 1, Progress(quiet=True))
    finally:
        signal.signal(signal.SIGINT, previous)
    # one transaction: the order under the harness's own key, and the cluster's keys removed
    [(command, ops)] = driver.etcd
    assert command == "txn --interactive=false"
    compares, put, delete, *rest = ops.split("\n")
    assert (compares, delete, rest) == ("", "del /service/devsim/ /service/devsim0", ["", "", ""])
    key, value = put.removeprefix("put ").split(" ", 1)
    assert key == "/devsim/restore/devsim"
    assert json.loads(json.loads(value))["repo"] == 1  # a quoted JSON text, as etcdctl's txn reads it
    assert {s.name: s.replicas for s in driver.services() if s.name.startswith("db")} == {"db1": 1, "db2": 0, "db3": 0}
    assert caught.value.one_line() == ("interrupted (SIGINT) once db1 was restoring: the restore goes on in the "
                                       "cluster (`devsim status` shows when it leads; `devsim up` then starts the "
                                       "others)")


class Ordered(FakeDriver):
    """etcd holding a restore order (or not), as `devsim up` finds it."""

    def __init__(self, order: str) -> None:
        super().__init__(services={"etcd": 1, "db1": 1, "db2": 1, "db3": 1})
        self.order = order
        self.etcd: list[str] = []

    def exec(self, container: ContainerInfo, argv: Sequence[str], user: str = "",
             detach: bool = False, timeout: float = 300.0) -> tuple[int, str]:
        command = argv[2].split("--command-timeout=10s ", 1)[1]
        user = "root" if 'ETCDCTL_USER="root:$(cat /run/secrets/etcd_root_password)"' in argv[2] else "patroni"
        self.etcd.append(f"{user} {command}")
        return 0, f"{self.order}\n" if command.startswith("get") else "1\n"


def test_up_finishes_an_interrupted_restores_order_once_the_cluster_is_whole() -> None:
    driver = Ordered('{"id": "1796122740", "repo": 1, "target": "latest"}')
    DevsimStack().after_up(driver, load_settings({}))
    assert driver.etcd == ["root get --print-value-only /devsim/restore/devsim", "root del /devsim/restore/devsim",
                           "patroni del /service/devsim-restore"]


def test_up_without_an_order_deletes_nothing() -> None:
    driver = Ordered("")
    DevsimStack().after_up(driver, load_settings({}))
    assert driver.etcd == ["root get --print-value-only /devsim/restore/devsim"]
