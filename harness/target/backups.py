"""The database's backups, as `devsim backup` takes and lists them.

pgBackRest runs on the stack's two repository hosts (target-stack/db/backup-service.py):
`backup` holds repository 1 and `offsite` repository 2, the off-site copy. Both take their
backups on schedule by themselves; the harness only asks one of them for one more, or for
what they hold, with their own pgBackRest inside their container.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from harness.driver import StackDriver
from harness.errors import InfrastructureError, UsageError
from harness.progress import Progress
from harness.target.secrets import running_container

REPOS = {1: "backup", 2: "offsite"}  # repository number -> the service that holds it
KINDS = ("full", "diff", "incr")
STANZA = "devsim"
PGBACKREST = ("pgbackrest", "--config=/tmp/pgbackrest.conf", f"--stanza={STANZA}")


@dataclass(frozen=True)
class Backup:
    """One backup in a repository, as pgBackRest's `info` describes it."""

    repo: int
    label: str
    kind: str
    started: float
    stopped: float
    stored_bytes: int  # what it added to the repository (compressed, this backup's files only)
    database_bytes: int  # the database's size when it was taken
    wal_start: str
    wal_stop: str

    @property
    def seconds(self) -> float:
        return self.stopped - self.started

    def as_dict(self) -> dict[str, Any]:
        return {"repo": self.repo, "label": self.label, "type": self.kind, "started": self.started,
                "stopped": self.stopped, "seconds": self.seconds, "stored_bytes": self.stored_bytes,
                "database_bytes": self.database_bytes, "wal_start": self.wal_start, "wal_stop": self.wal_stop}


def parse_info(repo: int, text: str) -> list[Backup]:
    """The backups of `pgbackrest info --output=json` (one stanza), oldest first."""
    try:
        stanzas = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise InfrastructureError(f"repository {repo} answered something that is not pgBackRest's JSON: {exc}") from exc
    found = []
    for stanza in stanzas:
        status = stanza.get("status") or {}
        # pgBackRest's stanza status: 0 ok; 1 no stanza yet (a fresh repository host, or its
        # files gone) and 2 no valid backup yet are an empty list here; any other (a corrupt
        # or foreign info file) is a repository that cannot be used.
        if status.get("code", 0) not in (0, 1, 2):
            # the repository's own status says why ("other" is all the stanza's says)
            why = [r["status"]["message"] for r in stanza.get("repo", []) if r.get("status", {}).get("code", 0)]
            message = " ".join((why or [status.get("message", "nothing")])[0].splitlines()[:2])  # what, then why
            raise InfrastructureError(f"repository {repo} cannot be used: pgBackRest says "
                                      f"{message!r} (status {status.get('code')})")
        for b in stanza.get("backup", []):
            found.append(Backup(repo, b["label"], b["type"], float(b["timestamp"]["start"]),
                                float(b["timestamp"]["stop"]), int(b["info"]["repository"]["delta"]),
                                int(b["info"]["size"]), b["archive"]["start"], b["archive"]["stop"]))
    return sorted(found, key=lambda b: b.stopped)


def _host(driver: StackDriver, repo: int) -> Any:
    if repo not in REPOS:
        raise UsageError(f"no repository {repo}: the stack has repositories 1 ({REPOS[1]}) and 2 ({REPOS[2]})")
    return running_container(driver, REPOS[repo])


def listing(driver: StackDriver, repos: tuple[int, ...] = tuple(REPOS)) -> list[Backup]:
    """Every backup of the given repositories, oldest first."""
    found: list[Backup] = []
    for repo in repos:
        code, out = driver.exec(_host(driver, repo), [*PGBACKREST, "info", "--output=json", f"--repo={repo}"])
        if code != 0:
            raise InfrastructureError(f"repository {repo} ({REPOS[repo]}) cannot be read: {_last_line(out)}")
        found += parse_info(repo, out)
    return sorted(found, key=lambda b: b.stopped)


def take(driver: StackDriver, repo: int, kind: str, progress: Progress) -> Backup:
    """One backup now, in repository `repo`; waits for it and returns it. A backup of that
    repository already running (the schedule's, or another `devsim backup`) is a usage error:
    pgBackRest holds a lock per stanza and repository host."""
    if kind not in KINDS:
        raise UsageError(f"a backup is {', '.join(KINDS)}, not {kind!r}")
    host = _host(driver, repo)
    before = {b.label for b in listing(driver, (repo,))}
    progress.step(f"taking a {kind} backup in repository {repo} ({REPOS[repo]}), from the database leader")
    started = time.monotonic()
    code, out = driver.exec(host, [*PGBACKREST, "backup", f"--type={kind}", f"--repo={repo}"])
    if code != 0:
        if "unable to acquire lock" in out:
            raise UsageError("a backup is already running (pgBackRest takes one at a time per cluster); wait for "
                             "it (`devsim backup --list` shows it when it ends)")
        raise InfrastructureError(f"the {kind} backup of repository {repo} failed: {_last_line(out)}",
                                  details=out.strip().splitlines()[-10:])
    progress.done()
    new = [b for b in listing(driver, (repo,)) if b.label not in before]
    if not new:
        raise InfrastructureError(f"pgBackRest said the backup of repository {repo} succeeded, but it lists "
                                  f"no new backup ({time.monotonic() - started:.0f} s)")
    return new[-1]


def _last_line(out: str) -> str:
    lines = [line for line in out.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"
