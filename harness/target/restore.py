"""`devsim restore`: the database cluster rebuilt from a pgBackRest repository.

Everything that can be refused is checked before anything is touched: the stack is up, the
repository answers and holds a backup, and the target lies between the end of the oldest
backup and the newest WAL that reached the repository. Then:

1. every database node is stopped (scaled to 0), so that no Patroni writes to etcd;
2. the order {id, repo, target} is written to etcd (/service/<scope>-restore) and the
   cluster's own keys are removed;
3. the nodes start again: each empties its data directory once for this order
   (target-stack/db/entrypoint.sh), the first to start bootstraps the cluster with
   pgBackRest's restore and replays the WAL to the target (restore.sh), then promotes; the
   others clone it;
4. the harness waits for the stack's steady state (a leader, a synchronous standby, a
   replica, the app serving).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass

from harness.config import Settings
from harness.driver import StackDriver
from harness.errors import InfrastructureError, Interrupted, UsageError
from harness.progress import Progress
from harness.signals import signals_deferred
from harness.stack import lifecycle
from harness.stack.services import stack_status
from harness.stack.waiting import Check, Waiter
from harness.target import backups, patroni
from harness.target.devsim import DevsimStack
from harness.target.restore_order import SCOPE, finish_order, place_order, restored_node_leads
from harness.target.secrets import running_container


@dataclass(frozen=True)
class Restored:
    target: str
    repo: int
    backup: str  # the label of the backup it started from
    seconds_to_leader: float
    seconds_to_steady_state: float


def parse_target(text: str, now: dt.datetime) -> dt.datetime | None:
    """None for `latest`; else the time, read as UTC when it names no zone. A time in the
    future is refused: nothing can have been archived there yet."""
    if text == "latest":
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError as exc:
        raise UsageError(f"--to takes `latest` or a time such as 2026-12-01T21:00:00Z, not {text!r}") from exc
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    if when > now:
        raise UsageError(f"--to {text} is in the future (it is {now:%Y-%m-%d %H:%M:%S} UTC now)")
    return when


def newest_wal_time(driver: StackDriver, repo: int) -> float | None:
    """When the newest WAL segment reached the repository (its file's time), or None."""
    host = running_container(driver, backups.REPOS[repo])
    script = (f"find /var/lib/pgbackrest/repo{repo}/archive/{SCOPE} -type f -name '0*' -printf '%T@\\n' 2>/dev/null "
              "| sort -n | tail -1")
    code, out = driver.exec(host, ["sh", "-c", script])
    return float(out.strip()) if code == 0 and out.strip() else None


def check(driver: StackDriver, settings: Settings, target: str, repo: int) -> tuple[dt.datetime | None, str]:
    """The target as a time (None: latest) and the backup the restore starts from; raises
    UsageError for anything a restore cannot do, before anything is touched."""
    if not stack_status(driver, settings):
        raise UsageError(f"stack {settings.stack!r} is not up: a restore needs its repository hosts; run `devsim up`")
    when = parse_target(target, dt.datetime.now(dt.UTC))
    found = backups.listing(driver, (repo,))
    if not found:
        raise UsageError(f"repository {repo} ({backups.REPOS[repo]}) holds no backup yet: nothing to restore from")
    if when is None:
        return None, found[-1].label
    oldest = found[0].stopped
    if when.timestamp() < oldest:
        raise UsageError(f"--to {when:%Y-%m-%d %H:%M:%S} UTC is before the end of the oldest backup in repository "
                         f"{repo} ({time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(oldest))} UTC)")
    newest = newest_wal_time(driver, repo)
    if newest is None or when.timestamp() > newest:
        shown = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(newest)) + " UTC" if newest else "none yet"
        raise UsageError(f"--to {when:%Y-%m-%d %H:%M:%S} UTC is after the newest WAL archived in repository {repo} "
                         f"({shown}): what was written after it cannot be replayed")
    usable = [b for b in found if b.stopped <= when.timestamp()]
    return when, usable[-1].label


def restore(driver: StackDriver, settings: Settings, target: str, repo: int, progress: Progress) -> Restored:
    when, label = check(driver, settings, target, repo)
    shown = "the latest archived WAL" if when is None else f"{when:%Y-%m-%d %H:%M:%S} UTC"
    members = patroni.member_services(settings.stack_dir)
    started = time.monotonic()
    progress.step(f"restoring the database from repository {repo} (backup {label}) to {shown}: stopping "
                  f"{', '.join(members)}")
    waiter = Waiter(settings.up_timeout, settings.poll_interval)
    # From the first node stopped to the restoring node started, Ctrl-C waits: cut between the
    # order and the removal of the cluster's keys, a plain `devsim up` found every data
    # directory emptied for the order and no leader to follow.
    with signals_deferred(progress, "the restore's critical steps") as deferred:
        for member in members:
            driver.update(member, replicas=0)
        if waiter.until(lambda: Check(not any(driver.containers(m) for m in members), "nodes stopping"),
                        progress.update) is None:
            raise InfrastructureError("the database nodes did not stop",
                                      hint="`devsim status`; then `devsim restore` again")
        order = json.dumps({"id": f"{time.time():.0f}", "repo": repo,
                            "target": "latest" if when is None else when.strftime("%Y-%m-%d %H:%M:%S.%f+00")})
        place_order(driver, order)
        progress.step(f"starting {members[0]}: it restores the backup and replays the WAL")
        driver.update(members[0], replicas=1)
    if deferred:
        raise Interrupted(f"interrupted ({deferred[0]}) once {members[0]} was restoring: the restore goes on in the "
                          "cluster", hint="`devsim status` shows when it leads; `devsim up` then starts the others")
    if waiter.until(restored_node_leads(driver, members), progress.update) is None:
        raise InfrastructureError(f"{members[0]} did not come up as leader after the restore",
                                  details=driver.logs(members[0], 15))
    to_leader = time.monotonic() - started
    progress.step(f"{members[0]} leads; starting {', '.join(members[1:])} (they clone it)")
    for member in members[1:]:
        driver.update(member, replicas=1)
    lifecycle.wait_until_healthy(driver, settings, DevsimStack(), progress, first=True)
    finish_order(driver)
    return Restored(target="latest" if when is None else when.isoformat(), repo=repo, backup=label,
                    seconds_to_leader=round(to_leader, 1), seconds_to_steady_state=round(time.monotonic() - started, 1))
