"""Run folders: reports/<run-id>/, the run id a UTC timestamp plus a slug, and the names of
the files in one (`RunFiles`, the only place they are spelled)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:48] or "run"


def new_run_dir(reports_dir: Path, slug: str, now: datetime | None = None) -> tuple[str, Path]:
    """Creates a fresh folder for one run and returns (run id, folder); never reuses one."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = f"{stamp}-{slugify(slug)}"
    reports_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        run_id = base if n == 1 else f"{base}-{n}"
        folder = reports_dir / run_id
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return run_id, folder
    raise FileExistsError(f"too many runs named {base} in {reports_dir}")


@dataclass(frozen=True)
class RunFiles:
    """The files of one run folder, named in one place."""

    folder: Path
    VERDICT = "verdict.json"
    JOURNAL = "journal.json"
    REQUEST_LOG = "requests.csv"
    SERVER_SERIES = "server_series.json"
    SUMMARY = "summary.json"
    AUDIT = "audit.json"
    REPORT = "index.html"  # the run's HTML report
    EXPERIMENT = "experiment.json"  # the experiment as it ran (its configuration filled in)
    CLAIM_SERIES = "claim_series.json"  # the Prometheus answers the claims were judged on

    @property
    def experiment(self) -> Path:
        return self.folder / self.EXPERIMENT

    @property
    def claim_series(self) -> Path:
        return self.folder / self.CLAIM_SERIES

    @property
    def verdict(self) -> Path:
        return self.folder / self.VERDICT

    @property
    def journal(self) -> Path:
        return self.folder / self.JOURNAL

    @property
    def request_log(self) -> Path:
        return self.folder / self.REQUEST_LOG

    @property
    def server_series(self) -> Path:
        return self.folder / self.SERVER_SERIES

    @property
    def summary(self) -> Path:
        return self.folder / self.SUMMARY

    @property
    def audit(self) -> Path:
        return self.folder / self.AUDIT

    @property
    def report(self) -> Path:
        return self.folder / self.REPORT
