"""Benchmark: a soak run, no fault injected, and what grows during it.

Runs `devsim load` (30 users by default, about 200 requests/s with writes, the shipped
locustfile) for `--minutes` (60 by default) and samples every 30 s: the resident memory of
the harness (`devsim load`) and of its Locust child, and the size of Prometheus's storage
(its volume on this host). At the end it reads the run's summary and failures and reports:
errors (goal: 0), memory growth from the first sample after warm-up to the last (goal:
under 10 %), Prometheus storage growth per hour, and the size of the run's report page and
folder per hour.

    .venv/bin/python benchmarks/soak.py [--minutes 60] [--users 30]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
WARM_UP_S = 300  # memory growth is measured from the first sample after this


def volume_bytes(stack: str, volume: str) -> int:
    done = subprocess.run(["docker", "volume", "inspect", "--format", "{{.Mountpoint}}", f"{stack}_{volume}"],
                          capture_output=True, text=True, check=False)
    path = Path(done.stdout.strip())
    if done.returncode != 0 or not path.is_dir():
        return -1
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def rss_mib(proc: psutil.Process) -> tuple[float, float]:
    """(harness, locust) resident memory in MiB; locust summed over its processes."""
    try:
        harness = proc.memory_info().rss
        children = proc.children(recursive=True)
        locust = sum(c.memory_info().rss for c in children)
    except psutil.Error:
        return 0.0, 0.0
    return harness / 2**20, locust / 2**20


def growth(samples: list[dict[str, float]], key: str) -> float | None:
    """From the first sample after the warm-up to the last one taken while Locust ran (after
    it, the harness reads the whole request log to write the summary and the report)."""
    warm = [s for s in samples if s["t"] >= WARM_UP_S and s[key] > 0 and s["locust_mib"] > 0]
    if len(warm) < 2:
        return None
    return round(100 * (warm[-1][key] - warm[0][key]) / warm[0][key], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--stack", default=os.environ.get("DEVSIM_STACK", "devsim"))
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--render", action="store_true", help="only rewrite soak.md from soak.json")
    args = parser.parse_args()
    if args.render:
        result = json.loads((RESULTS / "soak.json").read_text())
        result["harness_growth_pct"] = growth(result["samples"], "harness_mib")
        result["locust_growth_pct"] = growth(result["samples"], "locust_mib")
        samples = result["samples"]
        result["harness_peak_mib"] = max(s["harness_mib"] for s in samples if s["locust_mib"] > 0)
        result["harness_after_run_mib"] = max(s["harness_mib"] for s in samples if s["locust_mib"] == 0 and s["t"] > 60)
        (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
        render(result)
        return
    seconds = int(args.minutes * 60)
    log = RESULTS / "soak.log"
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as out:
        child = subprocess.Popen([sys.executable, "-m", "harness.cli", "--quiet", "load", "--users", str(args.users),
                                  "--spawn-rate", "10", "--run-time", f"{seconds}s"],
                                 cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    proc = psutil.Process(child.pid)
    samples: list[dict[str, float]] = []
    while child.poll() is None:
        harness, locust = rss_mib(proc)
        sample = {"t": round(time.monotonic() - started, 1), "harness_mib": round(harness, 1),
                  "locust_mib": round(locust, 1), "prometheus_bytes": volume_bytes(args.stack, "prometheus-data")}
        samples.append(sample)
        print(json.dumps(sample), flush=True)
        deadline = time.monotonic() + args.every
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
    wall = time.monotonic() - started
    last = log.read_text().strip().splitlines()[-1]
    if child.returncode not in (0, 1) or ": " not in last:
        sys.exit(f"devsim load failed (exit {child.returncode}); see {log}")
    run_dir = Path(last.split(": ", 1)[1]).parent
    summary = json.loads((run_dir / "summary.json").read_text())
    with (run_dir / "locust_failures.csv").open(newline="") as fh:
        failures = [{"name": r["Name"], "error": r["Error"], "count": int(r["Occurrences"])}
                    for r in csv.DictReader(fh)]
    hours = wall / 3600
    prom = [s["prometheus_bytes"] for s in samples if s["prometheus_bytes"] >= 0]
    folder = sum(f.stat().st_size for f in run_dir.iterdir() if f.is_file())
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "minutes": args.minutes, "users": args.users,
        "run": run_dir.name, "requests": int(summary["totals"]["requests"]), "rps": summary["totals"]["rps"],
        "errors": int(summary["totals"]["failures"]), "failures": failures,
        "p95_ms": summary["totals"]["p95"], "p99_ms": summary["totals"]["p99"],
        "harness_growth_pct": growth(samples, "harness_mib"), "locust_growth_pct": growth(samples, "locust_mib"),
        "harness_peak_mib": max(s["harness_mib"] for s in samples if s["locust_mib"] > 0),
        "harness_after_run_mib": max(s["harness_mib"] for s in samples if s["locust_mib"] == 0 and s["t"] > 60),
        "locust_peak_mib": max(s["locust_mib"] for s in samples),
        "prometheus_growth_mib_per_hour": round((prom[-1] - prom[0]) / 2**20 / hours, 1) if len(prom) > 1 else None,
        "report_page_mib": round((run_dir / "index.html").stat().st_size / 2**20, 2),
        "run_folder_mib_per_hour": round(folder / 2**20 / hours, 1),
        "samples": samples,
    }
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    render(result)


def render(result: dict[str, Any]) -> None:
    failures = result["failures"]
    lines = ["# Soak run", "",
             f"Measured {result['when']} by `benchmarks/soak.py`: `devsim load --users {result['users']}` for "
             f"{result['minutes']:g} min, no fault injected, the shipped locustfile (writes, reads, tokens).", "",
             f"- requests: {result['requests']} ({result['rps']:.1f}/s); p95 {result['p95_ms']:.0f} ms, "
             f"p99 {result['p99_ms']:.0f} ms",
             f"- **errors: {result['errors']}** (goal: 0)" + "".join(
                 f"\n  - {f['count']} x {f['name']}: {f['error']}" for f in failures),
             f"- memory growth after the first {WARM_UP_S // 60} min (goal: under 10 %): harness "
             f"{result['harness_growth_pct']} % (peak {result['harness_peak_mib']} MiB while Locust ran; "
             f"{result['harness_after_run_mib']} MiB while reading the request log for the summary and report), "
             f"Locust {result['locust_growth_pct']} % (peak {result['locust_peak_mib']} MiB)",
             f"- Prometheus storage: {result['prometheus_growth_mib_per_hour']} MiB per hour",
             f"- report page: {result['report_page_mib']} MiB; the run's folder: "
             f"{result['run_folder_mib_per_hour']} MiB per hour (mostly the per-request log)", ""]
    (RESULTS / "soak.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
