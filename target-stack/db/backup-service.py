#!/usr/bin/python3
"""A pgBackRest repository host: the `backup` service (repository 1) and the `offsite` one
(repository 2, standing for the off-site copy) each run this, on a volume of their own.

- It runs pgBackRest's TLS server, so that the database nodes push their WAL to it
  (archive_command) and restore from it.
- It creates the stanza once the cluster has a leader (or upgrades one an earlier cluster left
  in a kept repository), then takes backups on schedule from
  the leader, through the nodes' own pgBackRest servers: a full one when there is none or the
  newest is older than BACKUP_FULL_EVERY seconds (a day by default), an incremental one when
  BACKUP_INCR_EVERY is set and the newest backup is older than that.
- It serves Prometheus metrics on :9854: when the newest backup of each type ended, its size
  and duration, the schedule, whether a backup runs, failures, and when the newest WAL
  segment reached the repository.

Everything is in the environment: REPO (1 or 2), STANZA, PG_HOSTS, BACKUP_FULL_EVERY,
BACKUP_INCR_EVERY, BACKUP_RETENTION_FULL. The key and certificates are the database's.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = os.environ.get("REPO", "1")
STANZA = os.environ.get("STANZA", "devsim")
PG_HOSTS = os.environ.get("PG_HOSTS", "db1 db2 db3").split()
FULL_EVERY = float(os.environ.get("BACKUP_FULL_EVERY", "86400"))
INCR_EVERY = float(os.environ.get("BACKUP_INCR_EVERY", "0"))
RETENTION_FULL = os.environ.get("BACKUP_RETENTION_FULL", "2")
# Each repository at its own path, inside its host's volume: the nodes name both paths, and
# pgBackRest refuses two repositories at one path.
REPO_PATH = Path(f"/var/lib/pgbackrest/repo{REPO}")
CONFIG = Path("/tmp/pgbackrest.conf")
KEY = Path("/tmp/pgbackrest-tls/key.pem")
CA = "/run/configs/tls_ca.pem"
CERT = "/run/configs/tls_db_cert.pem"
PGDATA = "/var/lib/postgresql/data/pgdata"
# pgBackRest's exit code for "backup and archive info files exist but do not match the database"
STANZA_MISMATCH = 28

state: dict[str, Any] = {"running": 0, "failures": 0, "last_error": "", "stanza": 0}
STARTED = time.time()  # BackupTooOld counts from here while the repository holds no backup
lock = threading.Lock()


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} backup-service repo{REPO}: {message}", flush=True)


def write_config() -> None:
    KEY.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    KEY.write_text(Path("/run/secrets/tls_db_key").read_text())
    KEY.chmod(0o600)
    lines = ["[global]", f"repo{REPO}-path={REPO_PATH}", f"repo{REPO}-retention-full={RETENTION_FULL}",
             "start-fast=y", "compress-type=lz4", "log-level-console=info", "log-level-file=off",
             "lock-path=/tmp/pgbackrest-lock", "tls-server-address=*", f"tls-server-ca-file={CA}",
             f"tls-server-cert-file={CERT}", f"tls-server-key-file={KEY}", f"tls-server-auth=db1={STANZA}",
             "", f"[{STANZA}]"]
    for n, host in enumerate(PG_HOSTS, start=1):
        lines += [f"pg{n}-host={host}", f"pg{n}-host-type=tls", f"pg{n}-host-ca-file={CA}",
                  f"pg{n}-host-cert-file={CERT}", f"pg{n}-host-key-file={KEY}", f"pg{n}-path={PGDATA}"]
    CONFIG.write_text("\n".join(line for line in lines if line) + "\n")


def pgbackrest(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["pgbackrest", f"--config={CONFIG}", f"--stanza={STANZA}", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def info() -> dict[str, Any]:
    done = pgbackrest("info", "--output=json", f"--repo={REPO}", timeout=60)
    if done.returncode != 0:
        return {}
    found = json.loads(done.stdout or "[]")
    return dict(found[0]) if found else {}


_cache: dict[str, Any] = {"at": 0.0, "backups": []}


def backups(fresh: bool = False) -> list[dict[str, Any]]:
    """The repository's backups of this cluster, from `pgbackrest info` at most once a minute
    (each call starts a pgBackRest process: every scrape would make the idle stack busier).
    A kept repository also holds an earlier cluster's (an older database id): those neither
    make a backup unnecessary nor count for the metrics."""
    if fresh or time.monotonic() - _cache["at"] > 60:
        _cache.update(at=time.monotonic(), backups=of_current_database(info()))
    return list(_cache["backups"])


def of_current_database(found: dict[str, Any]) -> list[dict[str, Any]]:
    ids = [d.get("id", 0) for d in found.get("db", [])]
    if not ids:
        return list(found.get("backup", []))
    current = max(ids)
    return [b for b in found.get("backup", []) if (b.get("database") or {}).get("id") == current]


def take(kind: str) -> bool:
    """One backup now, of `kind` (full, diff, incr); False when it failed."""
    with lock:
        state["running"] = 1
    started = time.time()
    log(f"{kind} backup starting")
    try:
        done = pgbackrest("backup", f"--type={kind}", f"--repo={REPO}")
    finally:
        with lock:
            state["running"] = 0
    if done.returncode != 0:
        said = (done.stderr + done.stdout).strip().splitlines()
        with lock:
            state["failures"] += 1
            state["last_error"] = said[-1] if said else f"exit {done.returncode}"
        log(f"{kind} backup failed: {state['last_error']}")
        return False
    log(f"{kind} backup done in {time.time() - started:.1f} s")
    backups(fresh=True)
    return True


def due(found: list[dict[str, Any]], now: float) -> str | None:
    fulls = [b["timestamp"]["stop"] for b in found if b.get("type") == "full"]
    if not fulls or now - max(fulls) >= FULL_EVERY:
        return "full"
    if INCR_EVERY > 0 and now - max(b["timestamp"]["stop"] for b in found) >= INCR_EVERY:
        return "incr"
    return None


SEGMENT = 16 * 1024 * 1024


def newest_wal() -> tuple[float, int] | None:
    """(when it arrived, the LSN where it ends) of the newest WAL segment in this repository.
    Segment files are named TTTTTTTTLLLLLLLLSSSSSSSS-<sha1>[.ext]: timeline, log, segment."""
    archive = REPO_PATH / "archive" / STANZA
    newest: tuple[float, int] | None = None
    for timeline_dir in sorted(archive.glob("*-*"), reverse=True)[:1]:
        for sub in sorted((d for d in timeline_dir.iterdir() if d.is_dir()), reverse=True)[:2]:
            for f in sub.iterdir():
                name = f.name.split("-", 1)[0]
                if len(name) != 24 or not all(c in "0123456789ABCDEF" for c in name):
                    continue  # a .history or .backup file
                end = (int(name[8:16], 16) << 32) + (int(name[16:24], 16) + 1) * SEGMENT
                seen = (f.stat().st_mtime, end)
                newest = seen if newest is None or seen[1] > newest[1] else newest
    return newest


def metrics() -> str:
    out = ["# HELP devsim_backup_schedule_seconds How often a backup of the type is due.",
           "# TYPE devsim_backup_schedule_seconds gauge",
           f'devsim_backup_schedule_seconds{{repo="{REPO}",type="full"}} {FULL_EVERY}']
    if INCR_EVERY > 0:
        out.append(f'devsim_backup_schedule_seconds{{repo="{REPO}",type="incr"}} {INCR_EVERY}')
    newest: dict[str, dict[str, Any]] = {}
    for b in backups():
        if b["timestamp"]["stop"] >= newest.get(b["type"], {}).get("timestamp", {}).get("stop", 0):
            newest[b["type"]] = b
    out += ["# HELP devsim_backup_last_success_timestamp_seconds When the newest backup of the type ended.",
            "# TYPE devsim_backup_last_success_timestamp_seconds gauge"]
    out += [f'devsim_backup_last_success_timestamp_seconds{{repo="{REPO}",type="{t}"}} {b["timestamp"]["stop"]}'
            for t, b in newest.items()]
    out += ["# TYPE devsim_backup_last_size_bytes gauge"]
    out += [f'devsim_backup_last_size_bytes{{repo="{REPO}",type="{t}"}} {b["info"]["repository"]["delta"]}'
            for t, b in newest.items()]
    out += ["# TYPE devsim_backup_last_duration_seconds gauge"]
    out += [f'devsim_backup_last_duration_seconds{{repo="{REPO}",type="{t}"}} '
            f'{b["timestamp"]["stop"] - b["timestamp"]["start"]}' for t, b in newest.items()]
    out += ["# HELP devsim_backup_host_started_timestamp_seconds When this repository host started.",
            "# TYPE devsim_backup_host_started_timestamp_seconds gauge",
            f'devsim_backup_host_started_timestamp_seconds{{repo="{REPO}"}} {STARTED:.0f}']
    wal = newest_wal()
    out += ["# HELP devsim_wal_last_archived_timestamp_seconds When the newest WAL segment reached the repository.",
            "# TYPE devsim_wal_last_archived_timestamp_seconds gauge",
            "# HELP devsim_wal_archived_lsn_bytes Where the newest WAL segment in the repository ends (an LSN).",
            "# TYPE devsim_wal_archived_lsn_bytes gauge"]
    if wal is not None:
        out += [f'devsim_wal_last_archived_timestamp_seconds{{repo="{REPO}"}} {wal[0]}',
                f'devsim_wal_archived_lsn_bytes{{repo="{REPO}"}} {wal[1]}']
    with lock:
        out += ["# TYPE devsim_backup_running gauge", f'devsim_backup_running{{repo="{REPO}"}} {state["running"]}',
                "# TYPE devsim_backup_failures_total counter",
                f'devsim_backup_failures_total{{repo="{REPO}"}} {state["failures"]}',
                "# TYPE devsim_backup_stanza_ready gauge",
                f'devsim_backup_stanza_ready{{repo="{REPO}"}} {state["stanza"]}']
    return "\n".join(out) + "\n"


class Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path not in ("/metrics", "/health"):
            self.send_error(404)
            return
        body = (metrics() if self.path == "/metrics" else "ok\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)  # the health check may close as soon as it has the status line

    def log_message(self, *args: object) -> None:
        pass


def schedule() -> None:
    while True:
        if not state["stanza"]:
            done = pgbackrest("stanza-create", timeout=120)
            if done.returncode == STANZA_MISMATCH:
                # a repository kept from an earlier cluster (`devsim down --volumes` keeps the
                # offsite one): its stanza names that cluster's system identifier, and every
                # node's archive-push fails until it names this one; the old backups stay
                log("the repository holds an earlier cluster's stanza: upgrading it to this cluster")
                done = pgbackrest("stanza-upgrade", timeout=120)
            if done.returncode == 0:
                state["stanza"] = 1
                _cache["at"] = 0.0  # read again: before an upgrade, the old cluster's backups counted as this one's
                log("stanza ready")
            else:
                log("stanza not created yet: " + (done.stderr or done.stdout).strip().replace("\n", " ")[-200:])
        if state["stanza"]:
            kind = due(backups(fresh=not _cache["at"]), time.time())
            if kind:
                take(kind)
        time.sleep(10)


def main() -> None:
    REPO_PATH.mkdir(parents=True, exist_ok=True)
    write_config()
    server = subprocess.Popen(["pgbackrest", f"--config={CONFIG}", "--log-level-console=warn", "server"])
    threading.Thread(target=schedule, daemon=True).start()
    http = ThreadingHTTPServer(("0.0.0.0", 9854), Metrics)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    log(f"serving repository {REPO} at {REPO_PATH}; full every {FULL_EVERY:.0f} s"
        + (f", incremental every {INCR_EVERY:.0f} s" if INCR_EVERY else ""))
    sys.exit(server.wait())


if __name__ == "__main__":
    main()
