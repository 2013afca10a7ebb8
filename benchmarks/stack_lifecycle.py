"""Benchmark: cold `devsim up` (no stack images), warm `devsim up` after `down` and after
`down --volumes` (images cached), `devsim down` and `devsim down --volumes`.

Each figure is the median of several runs, timed around the real CLI. Writes
benchmarks/results/stack_lifecycle.{json,md}. The Debian base image is kept between cold
runs: it is not labelled as the stack's, so the harness does not delete it (making it with
debootstrap takes about 30 s more, once per machine).

    .venv/bin/python benchmarks/stack_lifecycle.py [--cycles 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def timed(*args: str) -> float:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness.cli", "--quiet", *args], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"devsim {' '.join(args)} failed:\n{done.stderr}")
    return elapsed


def remove_stack_images() -> int:
    """Removes every image any devsim stack built (test stacks share their layers)."""
    client = docker.from_env()
    images = client.images.list(filters={"label": "devsim.stack"})
    for image in images:
        client.images.remove(image.id, force=True)
    return len(images)


def summary(values: list[float]) -> dict[str, object]:
    return {"runs": len(values), "median_s": round(statistics.median(values), 2),
            "min_s": round(min(values), 2), "max_s": round(max(values), 2),
            "all_s": [round(v, 2) for v in values]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=3, help="how many cold cycles (each times every step once)")
    args = parser.parse_args()

    times: dict[str, list[float]] = {k: [] for k in ("cold_up", "up_after_down", "up_after_down_volumes",
                                                     "down", "down_volumes")}
    timed("down", "--volumes", "--yes")
    for i in range(args.cycles):
        removed = remove_stack_images()
        times["cold_up"].append(timed("up"))
        times["down"].append(timed("down"))
        times["up_after_down"].append(timed("up"))
        times["down_volumes"].append(timed("down", "--volumes", "--yes"))
        times["up_after_down_volumes"].append(timed("up"))
        times["down_volumes"].append(timed("down", "--volumes", "--yes"))
        print(f"cycle {i + 1} (removed {removed} stack images first): "
              + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), file=sys.stderr)

    client = docker.from_env()
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "docker": client.version()["Version"]},
        **{k: summary(v) for k, v in times.items()},
        "aims": {"warm_up_s": 30, "down_s": 10},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "stack_lifecycle.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [("cold `devsim up` (no stack images)", "cold_up", "-"),
            ("warm `devsim up` after `devsim down` (volumes kept)", "up_after_down", "≤ 30 s"),
            ("warm `devsim up` after `devsim down --volumes`", "up_after_down_volumes", "≤ 30 s"),
            ("`devsim down`", "down", "≤ 10 s"),
            ("`devsim down --volumes`", "down_volumes", "≤ 10 s")]
    lines = [
        "# Stack lifecycle benchmark", "",
        f"Measured {result['when']} on {result['machine']['cpus']} cores, Docker {result['machine']['docker']}, "
        "by `benchmarks/stack_lifecycle.py` (times around the real CLI, to all services healthy, the database "
        "cluster whole, the load balancer answering and Prometheus scraping every app replica).", "",
        "| what | runs | median | min | max | aim |", "|---|---|---|---|---|---|",
    ]
    for name, key, aim in rows:
        s = result[key]
        lines.append(f"| {name} | {s['runs']} | {s['median_s']} s | {s['min_s']} s | {s['max_s']} s | {aim} |")
    (RESULTS / "stack_lifecycle.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
