"""The run history: one SQLite file in the reports folder, one row per run.

The index page is rendered from this store, not from the folders, so a run stays listed after
its folder is cleaned up and the page can be rebuilt at any time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.errors import InfrastructureError
from harness.report.rundata import RunData

STORE = "history.sqlite"
COLUMNS = ("run_id", "started", "kind", "experiment", "status", "reason", "duration_s", "requests",
           "error_ratio", "p95_ms", "rto_s", "folder")
SCHEMA = """CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started REAL NOT NULL, kind TEXT NOT NULL, experiment TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL, duration_s REAL, requests INTEGER,
    error_ratio REAL, p95_ms REAL, rto_s REAL, folder TEXT NOT NULL)"""


@contextmanager
def _connect(reports_dir: Path) -> Iterator[sqlite3.Connection]:
    reports_dir.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(reports_dir / STORE, timeout=10)
    except sqlite3.Error as exc:
        raise InfrastructureError(f"cannot open the run history {reports_dir / STORE}: {exc}") from exc
    try:
        db.execute(SCHEMA)
        with db:
            yield db
    except sqlite3.Error as exc:
        raise InfrastructureError(f"the run history {reports_dir / STORE} failed: {exc}") from exc
    finally:
        db.close()


def record(reports_dir: Path, run: RunData) -> None:
    """Adds a run, or replaces it when it is re-rendered."""
    values = (run.run_id, run.started, run.kind, run.title, run.status, run.reason, round(run.duration_s, 1),
              run.figures.requests, run.figures.error_ratio, run.figures.p95_ms, run.figures.rto_s,
              str(run.run_dir.resolve()))
    with _connect(reports_dir) as db:
        db.execute(f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                   values)


def runs(reports_dir: Path) -> list[dict[str, Any]]:
    """Every recorded run, newest first."""
    with _connect(reports_dir) as db:
        rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM runs ORDER BY started DESC, run_id DESC").fetchall()
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]
