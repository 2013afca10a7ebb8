"""Benchmark: the memory of `devsim load`'s live line over an hour of Locust history.

Grows a stats-history file as Locust does (six rows a second, copied from a recorded run)
to 3600 seconds, reads the live line every 10 simulated seconds, and prints the process's
resident memory at 5, 30 and 60 minutes: with the whole-file read `devsim load` used until
97699ee (`--old`), and with the tail read it uses now. No stack needed.

    .venv/bin/python benchmarks/live_read_memory.py [--old]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.load import results  # noqa: E402

SOURCE = ROOT / "tests" / "unit" / "data" / "load-run" / "locust_stats_history.csv"


def whole_file(path: Path) -> Any:
    """The read before 97699ee: every row of the file, every time."""
    with path.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("Name") == "Aggregated"]
    return rows[-1] if rows else None


def rss_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", action="store_true", help="the whole-file read")
    args = parser.parse_args()
    read = whole_file if args.old else results.read_live
    with SOURCE.open(newline="") as fh:
        reader = csv.DictReader(fh)
        names = list(reader.fieldnames or [])
        rows = list(reader)[:6]
    with tempfile.TemporaryDirectory() as tmp:
        history = Path(tmp) / "history.csv"
        with history.open("w", newline="") as fh:
            out = csv.DictWriter(fh, fieldnames=names)
            out.writeheader()
            for second in range(3600):
                out.writerows(rows)
                fh.flush()
                if second % 10 == 0:
                    read(history)
                if second in (300, 1800, 3599):
                    print(f"{'whole file' if args.old else 'tail'}: {second // 60:>2} min {rss_mib():.1f} MiB")


if __name__ == "__main__":
    main()
