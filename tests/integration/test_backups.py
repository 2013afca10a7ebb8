"""Backups and restores on the real stack: pgBackRest's repository hosts back the cluster up
by themselves, `devsim backup` takes one more and lists them, bad restores are refused with
the data untouched, both recovery experiments pass (and fail under their control, with the
loss measured), and the backup alerts fire for real."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.chaos import actions, alerts, backups, database
from harness.config import PROJECT_ROOT, Settings
from harness.driver import driver_for
from harness.load.runner import default_sigint
from harness.target import patroni, restore_order
from tests.integration.conftest import devsim, explain, judged_again, set_switches

pytestmark = pytest.mark.docker

EXPERIMENTS = PROJECT_ROOT / "experiments"


def config(settings: Settings) -> dict[str, Any]:
    return {"devsim_stack": settings.stack, "lb_url": settings.lb_url, "prometheus_url": settings.prometheus_url,
            "mailsink_url": settings.mailsink_url}


def listing() -> list[dict[str, Any]]:
    done = devsim("backup", "--list", "--json")
    assert done.returncode == 0, explain(done)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def cluster_of(settings: Settings) -> patroni.Cluster:
    return patroni.Cluster(driver_for(settings.stack), patroni.member_services(settings.stack_dir))


def node_containers(settings: Settings) -> set[str]:
    cluster = cluster_of(settings)
    return {c.id for m in cluster.members for c in cluster.containers(m)}


def query(settings: Settings, promql: str) -> dict[str, float]:
    """{repo: value} of an instant Prometheus query."""
    found = requests.get(f"{settings.prometheus_url}/api/v1/query", params={"query": promql},
                         timeout=5).json()["data"]["result"]
    return {r["metric"].get("repo", ""): float(r["value"][1]) for r in found}


def no_backup_running(settings: Settings) -> None:
    """Waits until both repository hosts have their stanza and neither is backing up (their
    own metrics, through Prometheus): pgBackRest holds one lock per cluster, so a fresh
    stack's first scheduled backups would refuse a `devsim backup`."""
    query = "min(devsim_backup_stanza_ready) - max(devsim_backup_running) + count(devsim_backup_running)"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        found = requests.get(f"{settings.prometheus_url}/api/v1/query", params={"query": query},
                             timeout=5).json()["data"]["result"]
        if found and float(found[0]["value"][1]) == 3:  # stanzas ready, none running, both hosts seen
            time.sleep(6)  # one more scrape (5 s): a backup that began just now would show
            again = requests.get(f"{settings.prometheus_url}/api/v1/query", params={"query": query},
                                 timeout=5).json()["data"]["result"]
            if again and float(again[0]["value"][1]) == 3:
                return
        time.sleep(2)
    raise AssertionError("the repository hosts were still busy (or not ready) after 180 s")


def test_each_repository_backs_itself_up_and_devsim_backup_takes_one_more(stack: Settings) -> None:
    deadline = time.monotonic() + 180  # the repository hosts take a full backup once the cluster leads
    while {b["repo"] for b in listing() if b["type"] == "full"} != {1, 2} and time.monotonic() < deadline:
        time.sleep(5)
    before = listing()
    assert {b["repo"] for b in before if b["type"] == "full"} == {1, 2}
    no_backup_running(stack)
    done = devsim("backup", "--type", "incr", "--json")
    assert done.returncode == 0, explain(done)
    taken = json.loads(done.stdout)
    assert (taken["repo"], taken["type"]) == (1, "incr")
    assert taken["label"] not in {b["label"] for b in before}
    assert 0 < taken["seconds"] < 120
    assert taken["stored_bytes"] > 0
    assert taken["database_bytes"] > taken["stored_bytes"]
    assert taken["label"] in {b["label"] for b in listing()}


def test_a_backup_while_one_runs_is_refused(stack: Settings) -> None:
    no_backup_running(stack)
    first = subprocess.Popen([sys.executable, "-m", "harness.cli", "backup", "--type", "full", "--repo", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        second = devsim("backup", "--type", "full", "--repo", "2")
    finally:
        _out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2, explain(second)
    assert second.stderr.strip().splitlines()[-1] == (
        "devsim: error: a backup is already running (pgBackRest takes one at a time per cluster); wait for it "
        "(`devsim backup --list` shows it when it ends)")


@pytest.mark.parametrize(("target", "says"), [
    ("2999-01-01T00:00:00Z", "is in the future"),
    ("2020-01-01T00:00:00Z", "is before the end of the oldest backup in repository 1"),
    ("last tuesday", "--to takes `latest` or a time"),
])
def test_a_restore_that_cannot_be_done_is_refused_and_touches_nothing(stack: Settings, target: str,
                                                                     says: str) -> None:
    item = f"kept-{uuid.uuid4()}"
    cluster = cluster_of(stack)
    cluster.sql(f"INSERT INTO items (id, payload, written_by) VALUES ('{item}', '{{}}', 'test')")
    nodes = node_containers(stack)
    done = devsim("restore", "--to", target, "--yes")
    assert done.returncode == 2, explain(done)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert says in lines[0], done.stderr
    assert node_containers(stack) == nodes  # no node was stopped
    assert cluster.sql(f"SELECT count(*) FROM items WHERE id = '{item}'") == [["1"]]


@pytest.mark.sets_switches
def test_the_backup_alerts_fire_on_the_live_stack(stack: Settings) -> None:
    """Incremental backups every 30 s; then the backup service stops: BackupTooOld fires for
    repository 1 once its newest backup is 90 s old. The offsite host stops too: the WAL the
    leader writes no longer reaches repository 2, and WalArchivingStalled fires."""
    set_switches("BACKUP_INCR_EVERY=30")  # the next test (the disaster's --prove) puts the schedule back
    cfg = config(stack)

    def backup_alerts() -> dict[str, str]:
        """{alert name: state} of the two backup alerts; inactive when Prometheus lists none."""
        found = requests.get(f"{stack.prometheus_url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        states = {a["labels"]["alertname"]: a["state"] for a in found}
        return {name: states.get(name, "inactive") for name in ("BackupTooOld", "WalArchivingStalled")}

    def write() -> None:  # WAL must keep coming
        cluster_of(stack).sql(f"INSERT INTO items (id, payload, written_by) VALUES ('{uuid.uuid4()}', '{{}}', 't')")

    # First the other side, measured: backing up every 30 s and archiving, each repository's
    # newest backup is younger than BackupTooOld's 90 s, and each holds WAL past what the
    # leader wrote 2 minutes ago (the two rules' own terms). This runs before the recovery
    # experiments: a run under WAL_ARCHIVING=off leaves WAL unarchived for minutes (rightly
    # firing WalArchivingStalled), and Prometheus finds the restarted hosts up to 30 s late.
    ages = ("time() - max by (repo) (max_over_time(devsim_backup_last_success_timestamp_seconds[2d]) "
            "or on (repo) min_over_time(devsim_backup_host_started_timestamp_seconds[2d]))")
    ahead = ("max by (repo) (last_over_time(devsim_wal_archived_lsn_bytes[2d])) "
             "- on () group_left min_over_time(max(patroni_xlog_location)[2m:5s])")
    deadline = time.monotonic() + 240
    while True:
        write()
        age, lead = query(stack, ages), query(stack, ahead)
        if (set(age) == set(lead) == {"1", "2"} and max(age.values()) < 90 and min(lead.values()) >= 0) \
                or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert set(age) == {"1", "2"}, age
    assert max(age.values()) < 90, age
    assert set(lead) == {"1", "2"}, lead
    assert min(lead.values()) >= 0, lead
    # the rules follow at their next evaluation (every second): an alert that fired before the
    # new schedule's first backup landed resolves then (CI once read it firing in between)
    deadline = time.monotonic() + 15
    while backup_alerts() != {"BackupTooOld": "inactive", "WalArchivingStalled": "inactive"} \
            and time.monotonic() < deadline:
        time.sleep(1)
    assert backup_alerts() == {"BackupTooOld": "inactive", "WalArchivingStalled": "inactive"}
    states: dict[str, str] = {}
    fired: dict[str, float] = {}
    age = query(stack, ages)  # each newest backup's age at the stop (the hosts share a lock: up to 30 s + a wait)
    try:
        stopped = time.monotonic()
        actions.stop_service("backup", configuration=cfg)
        actions.stop_service("offsite", configuration=cfg)
        while time.monotonic() < stopped + 300 and len(fired) < 2:
            write()
            states = backup_alerts()
            fired.update({n: time.monotonic() - stopped for n, s in states.items() if s == "firing" and n not in fired})
            time.sleep(2)
        assert set(fired) == {"BackupTooOld", "WalArchivingStalled"}, states
        # Neither can fire sooner than its rule allows: BackupTooOld once the newest backup is
        # 90 s old (and for 10 s more, which absorbs the scrape and evaluation steps),
        # WalArchivingStalled once WAL written 2 minutes ago is missing (archived up to at most
        # 60 s before the stop). CI once saw BackupTooOld after 56 s: the newest backup was
        # then over 34 s old at the stop, the two hosts waiting for each other's lock.
        assert fired["BackupTooOld"] >= 90 - max(age.values()), (fired, age)
        assert fired["WalArchivingStalled"] >= 120 - 60, fired
        print(f"fired after the stop: {fired}")
        assert alerts.alert_state("NoDatabaseLeader", configuration=cfg) == "inactive"
    finally:
        actions.restore_service("backup", configuration=cfg)
        actions.restore_service("offsite", configuration=cfg)


@pytest.mark.sets_switches
def test_the_disaster_restores_within_the_archiving_bound_and_not_without_archiving(stack: Settings) -> None:
    done = devsim("run", "--no-up", "--prove", "--json", str(EXPERIMENTS / "db-disaster-recovery.yaml"))
    assert done.returncode == 0, explain(done)
    [summary] = json.loads(done.stdout)
    run_dir = Path(summary["run_dir"])
    verdict = judged_again(run_dir)
    rpo = "every LOST write was acknowledged within 75 s of the disaster (archive_timeout 60 s + 15 s)"
    by_name = {c["name"]: c for c in verdict["claims"]}
    assert 0 <= by_name[rpo]["measured"] <= 75
    assert by_name["writes are acknowledged again within 120 s of the disaster (RTO)"]["measured"] <= 120
    [control] = verdict["controls"]
    under = json.loads((run_dir.parent / control["run_id"] / "verdict.json").read_text())
    failed = {c["name"]: c for c in under["claims"]}[rpo]
    assert failed["outcome"] == "failed"
    assert failed["measured"] > 75  # writes acknowledged long before the disaster are lost
    audit = json.loads((run_dir.parent / control["run_id"] / "audit.json").read_text())
    assert audit["lost"] > 0


def test_the_point_in_time_restore_brings_the_deleted_rows_back_and_nothing_after(stack: Settings) -> None:
    """`devsim run --prove`: as shipped, the restore lands between the marker and the mistake;
    under its control (WAL archiving off) it can only go back to the newest backup's end,
    before the marker and the rows written since that backup: both claims fail."""
    done = devsim("run", "--no-up", "--prove", "--json", str(EXPERIMENTS / "db-point-in-time-recovery.yaml"))
    assert done.returncode == 0, explain(done)
    [summary] = json.loads(done.stdout)
    run_dir = Path(summary["run_dir"])
    verdict = judged_again(run_dir)
    by_name = {c["name"]: c for c in verdict["claims"]}
    deleted = by_name["every row the mistake deleted is back"]
    assert (deleted["measured"], deleted["power"]) == (0, "shown")
    marker = by_name["the marker written before the mistake is there"]
    assert (marker["measured"], marker["power"]) == (1, "shown")
    assert by_name["no row written after the restore point is there"]["measured"] == 0
    [control] = verdict["controls"]
    under = {c["name"]: c for c in judged_again(run_dir.parent / control["run_id"])["claims"]}
    assert (under["the marker written before the mistake is there"]["outcome"],
            under["the marker written before the mistake is there"]["measured"]) == ("failed", 0)
    # the rows written between the newest backup and the mistake are gone with it
    assert under["every row the mistake deleted is back"]["outcome"] == "failed"
    assert under["every row the mistake deleted is back"]["measured"] > 0


def test_an_interrupted_restore_is_finished_by_a_plain_up_on_the_restored_data(stack: Settings) -> None:
    """Ctrl-C once `devsim restore` is stopping the nodes: it waits until its order is placed
    whole and the restoring node runs, exits 2 saying so, and a plain `devsim up` then brings
    the whole cluster back on the restored data and removes the order (issue 32)."""
    cfg = config(stack)
    database.wait_until_db_whole(configuration=cfg)  # an earlier test may have just moved the leader
    marker = backups.write_marker(configuration=cfg)
    backups.archive_now(configuration=cfg)  # so that the latest archived WAL holds the marker
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "restore", "--yes"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "stopping db1, db2, db3" in line:
            break
    time.sleep(1)  # the nodes are stopping (30 s of grace each at most): inside the critical steps
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, "".join(seen) + err
    assert "devsim: error: interrupted (SIGINT) once db1 was restoring: the restore goes on in the cluster" in err
    assert restore_order.order_placed(driver_for(stack.stack)) != ""
    # at once, as a user would: db1 is still replaying the WAL, and `up` must not cut that
    # short (it once restarted db1 then, which promoted without the marker)
    done = devsim("up", timeout=900)
    assert done.returncode == 0, explain(done)
    view = cluster_of(stack).view()
    assert [m.name for m in view.leaders] == ["db1"], view  # the restored node leads
    assert view.healthy(3, synchronous=True), view
    assert cluster_of(stack).sql(f"SELECT count(*) FROM items WHERE id = '{marker}'") == [["1"]]
    assert restore_order.order_placed(driver_for(stack.stack)) == ""  # done: the order is gone
