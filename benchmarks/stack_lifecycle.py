"""Benchmark: cold `devsim up` (no stack images), warm `devsim up` (images cached) and `devsim down`.

Each figure is the median of several runs, timed around the real CLI. Writes
benchmarks/results/stack_lifecycle.{json,md}. The Debian base image is kept between cold
runs: it is not labelled as the stack's, so the harness does not delete it (making it with
debootstrap takes about 30 s more, once per machine).

    .venv/bin/python benchmarks/stack_lifecycle.py [--cold 2] [--warm 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

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
    parser.add_argument("--cold", type=int, default=2)
    parser.add_argument("--warm", type=int, default=5)
    args = parser.parse_args()

    cold, warm, down = [], [], []
    for i in range(args.cold):
        timed("down", "--volumes")
        removed = remove_stack_images()
        print(f"cold run {i + 1}: removed {removed} stack images", file=sys.stderr)
        cold.append(timed("up"))
        down.append(timed("down", "--volumes"))
    for i in range(args.warm):
        warm.append(timed("up"))
        down.append(timed("down", "--volumes"))
        print(f"warm run {i + 1}: up {warm[-1]:.1f} s, down {down[-1]:.1f} s", file=sys.stderr)

    client = docker.from_env()
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(),
                    "docker": client.version()["Version"]},
        "cold_up": summary(cold), "warm_up": summary(warm), "down": summary(down),
        "aims": {"warm_up_s": 30, "down_s": 10},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "stack_lifecycle.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [("cold `devsim up` (no stack images)", result["cold_up"], "-"),
            ("warm `devsim up` (images cached)", result["warm_up"], "< 30 s"),
            ("`devsim down --volumes`", result["down"], "< 10 s")]
    lines = [
        "# Stack lifecycle benchmark", "",
        f"Measured {result['when']} on {result['machine']['cpus']} cores, Docker {result['machine']['docker']}, "
        "by `benchmarks/stack_lifecycle.py` (times around the real CLI, to all services healthy, the load "
        "balancer answering and Prometheus scraping every app replica).", "",
        "| what | runs | median | min | max | aim |", "|---|---|---|---|---|---|",
    ]
    for name, s, aim in rows:
        lines.append(f"| {name} | {s['runs']} | {s['median_s']} s | {s['min_s']} s | {s['max_s']} s | {aim} |")
    (RESULTS / "stack_lifecycle.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
