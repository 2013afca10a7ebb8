"""What the benchmark scripts share: the real CLI run as a child process, the one-run summary
`devsim run --json` prints, and how a figure's runs are summed up in a results table."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def devsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", "--quiet", *args], cwd=ROOT,
                          capture_output=True, text=True, check=False)


def summary_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The first run's summary from `devsim run --json`; a status "error" with stderr's tail
    when it printed none."""
    try:
        found = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"status": "error", "reason": done.stderr.strip()[-400:]}
    return found[0] if found else {"status": "error", "reason": "no run"}


def spread(values: list[Any]) -> str:
    """The median, min and max of the numbers among `values` ("-" when there is none)."""
    found = [v for v in values if isinstance(v, int | float)]
    if not found:
        return "-"
    return f"{statistics.median(found):g} (min {min(found):g}, max {max(found):g})"
