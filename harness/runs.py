"""Run folders: reports/<run-id>/, the run id a UTC timestamp plus a slug."""

from __future__ import annotations

import re
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
