"""Benchmark: the capacity curve through the load balancer, and where its knee is.

Steps the users (10, 20, 40, 80, 160 by default) with no think time
(benchmarks/saturating_locustfile.py), each step a real `devsim load` of `--seconds`, and
records throughput, p50/p95/p99, the error ratio and each service's CPU (cgroup accounting,
% of one core) per step. The knee is the first step whose throughput is less than 10 % above
the step before: from there on, more users only queue. wrk on GET /api/version, with as many
connections as the largest step, is the machine's ceiling on its cheapest route (not a
like-for-like client). The load generator shares the machine's cores with the stack.

Writes benchmarks/results/capacity.{json,md,svg}.

    .venv/bin/python benchmarks/capacity.py [--steps 10,20,40,80,160] [--seconds 30]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from idle import container_cpu_s, machine_busy_s, stack_containers  # noqa: E402
from load_overhead import wrk  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
LOCUSTFILE = ROOT / "benchmarks" / "saturating_locustfile.py"
KNEE_GAIN = 0.10


def step(users: int, seconds: int, stack: str) -> dict[str, Any]:
    containers = stack_containers(stack)
    before = {cid: container_cpu_s(cid) for cid in containers}
    busy0, _ = machine_busy_s()
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness.cli", "--quiet", "load", "--users", str(users),
                           "--spawn-rate", str(users), "--run-time", f"{seconds}s", "--locustfile", str(LOCUSTFILE)],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    busy1, _ = machine_busy_s()
    if done.returncode not in (0, 1):
        sys.exit(f"devsim load --users {users} failed:\n{done.stderr}")
    page = Path(done.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    totals = json.loads((page.parent / "summary.json").read_text())["totals"]
    cpu: dict[str, float] = {}
    for cid, service in containers.items():
        start, end = before[cid], container_cpu_s(cid)
        if start is not None and end is not None:
            cpu[service] = cpu.get(service, 0.0) + end - start
    return {"users": users, "rps": round(totals["rps"], 1), "p50_ms": totals["p50"], "p95_ms": totals["p95"],
            "p99_ms": totals["p99"], "error_ratio": totals["error_ratio"], "requests": int(totals["requests"]),
            "machine_pct": round(100 * (busy1 - busy0) / (wall * (os.cpu_count() or 1)), 1),
            "stack_pct_of_one_core": round(100 * sum(cpu.values()) / wall, 1),
            "cpu_pct_of_one_core": {s: round(100 * v / wall, 1) for s, v in sorted(cpu.items(), key=lambda kv: -kv[1])}}


def knee(steps: list[dict[str, Any]]) -> int | None:
    """Users at the first step that adds less than KNEE_GAIN throughput over the one before."""
    for before, after in itertools.pairwise(steps):
        if after["rps"] < before["rps"] * (1 + KNEE_GAIN):
            return int(after["users"])
    return None


def svg(steps: list[dict[str, Any]], ceiling: float) -> str:
    """Two panels, throughput and p95 against users (log2 axis), as a standalone SVG."""
    width, height, pad = 360, 240, 46
    xs = [s["users"] for s in steps]

    def panel(x0: int, values: list[float], top: float, title: str, colour: str, extra: str = "") -> str:
        lo, hi = min(xs), max(xs)
        span = max(1e-9, (hi / lo))
        px = [x0 + pad + (width - 2 * pad) * math.log(x / lo) / math.log(span) if span > 1 else x0 + width / 2
              for x in xs]
        py = [height - pad - (height - 2 * pad) * v / top for v in values]
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))
        marks = "".join(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>'
                        f'<text x="{a:.1f}" y="{height - pad + 14}" font-size="10" text-anchor="middle">{x}</text>'
                        f'<text x="{a:.1f}" y="{b - 6:.1f}" font-size="9" text-anchor="middle">{v:.0f}</text>'
                        for a, b, x, v in zip(px, py, xs, values, strict=True))
        axis = f'x1="{x0 + pad}" y1="{height - pad}" x2="{x0 + width - pad}" y2="{height - pad}"'
        frame = (f'<line {axis} stroke="#888"/>'
                 f'<line x1="{x0 + pad}" y1="{pad}" x2="{x0 + pad}" y2="{height - pad}" stroke="#888"/>'
                 f'<text x="{x0 + width / 2}" y="{pad - 20}" font-size="12" text-anchor="middle">{title}</text>'
                 f'<text x="{x0 + width / 2}" y="{height - 8}" font-size="10" text-anchor="middle">users</text>'
                 f'<text x="{x0 + 4}" y="{pad - 4}" font-size="9">{top:.0f}</text>')
        return frame + extra + f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>' + marks

    rps = [float(s["rps"]) for s in steps]
    p95 = [float(s["p95_ms"]) for s in steps]
    top_rps = max(rps) * 1.25
    body = panel(0, rps, top_rps, "throughput (requests/s)", "#0969da")
    body += panel(width, p95, max(p95) * 1.25 or 1, "p95 latency (ms)", "#bf8700")
    note = f"wrk ceiling on GET /api/version: {ceiling:.0f} requests/s (off this scale)" if ceiling else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width}" height="{height + 16}" '
            f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>{body}'
            f'<text x="{width}" y="{height + 10}" font-size="10" text-anchor="middle">{note}</text></svg>\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="10,20,40,80,160")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--stack", default="devsim")
    args = parser.parse_args()
    users = [int(u) for u in args.steps.split(",")]
    steps = []
    for n in users:
        steps.append(step(n, args.seconds, args.stack))
        print(json.dumps(steps[-1]), flush=True)
    ceiling = 0.0
    if shutil.which("wrk"):
        ceiling, _ = wrk(max(users), args.seconds)
    found = knee(steps)
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds_per_step": args.seconds,
              "steps": steps, "knee_users": found, "wrk_ceiling_rps": ceiling}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "capacity.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "capacity.svg").write_text(svg(steps, ceiling))
    table = ["| users | requests/s | p50 | p95 | p99 | errors | machine busy | the stack's containers (% of one core) "
             "| busiest services (% of one core) |", "|---|---|---|---|---|---|---|---|---|"]
    for s in steps:
        busiest = ", ".join(f"{k} {v}" for k, v in list(s["cpu_pct_of_one_core"].items())[:3])
        table.append(f"| {s['users']} | {s['rps']} | {s['p50_ms']:.0f} ms | {s['p95_ms']:.0f} ms | "
                     f"{s['p99_ms']:.0f} ms | {s['error_ratio'] * 100:.2f} % | {s['machine_pct']} % | "
                     f"{s['stack_pct_of_one_core']} | {busiest} |")
    lines = ["# Capacity curve", "",
             f"Measured {result['when']} by `benchmarks/capacity.py`: {args.seconds} s per step, no think time, "
             "through the load balancer (the mixed workload of loadtests/locustfile.py); the load generator "
             "shares the machine's 2 cores with the stack: where the machine is busy near 100 %, the knee is "
             "this machine's (stack and load generator together), not the stack's alone.", "", *table, "",
             f"Knee (first step adding less than {KNEE_GAIN:.0%} throughput): "
             f"**{found if found is not None else 'not reached'} users**.",
             f"wrk's ceiling on GET /api/version with {max(users)} connections: "
             f"{ceiling:.0f} requests/s" + ("" if ceiling else " (wrk not installed)") + ".", "",
             "![capacity curve](capacity.svg)", ""]
    (RESULTS / "capacity.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
