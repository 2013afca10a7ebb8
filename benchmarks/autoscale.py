"""Benchmark: how the app's autoscaler reacts to a traffic spike (issue #33), median of three.

Runs experiments/traffic-spike-autoscale.yaml `--runs` times through the real CLI and reads,
for each run, the autoscaler's own series from Prometheus over the run's fault window:
  decision latency   spike start -> the first decision above the floor
  time to capacity   spike start -> a fourth replica ready (the experiment's probe)
  overshoot          the most replicas run - the replicas the peak load needed
  flaps              reversals of the decided count (up then down, or down then up)
  scale-in time      the spike's end -> back at the floor (the experiment's probe)
next to what Kubernetes' HPA defaults give for the same spike on paper (a 15 s loop, no
scale-up window, a 300 s scale-down window). Writes benchmarks/results/autoscale.{json,md}.

    .venv/bin/python benchmarks/autoscale.py [--runs 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

from benchmarks.runs import devsim, spread, summary_of  # noqa: E402
from harness.config import load_settings  # noqa: E402
from harness.metrics.prometheus import Prometheus  # noqa: E402

EXPERIMENT = "experiments/traffic-spike-autoscale.yaml"
FLOOR, TARGET = 3, 40.0  # the shipped floor and per-replica target (target-stack/switches.yml)
HPA_ON_PAPER = {"decision latency": "up to 15 s (one loop) after the averaged metric crosses the target",
                "scale-in time": "300 s (the scale-down window) after the load falls, plus one loop"}


def reversals(values: list[float]) -> int:
    """How often a series changes direction (flat steps do not count)."""
    steps = [b - a for a, b in itertools.pairwise(values) if b != a]
    return sum(1 for a, b in itertools.pairwise(steps) if (a > 0) != (b > 0))


def one_run(prometheus: Prometheus) -> dict[str, Any]:
    summary = summary_of(devsim("run", "--no-up", "--json", EXPERIMENT))
    if summary.get("status") not in ("passed", "failed"):
        return {"status": summary.get("status", "error"), "reason": summary.get("reason", "")}
    run_dir = Path(summary["run_dir"])
    verdict = json.loads((run_dir / "verdict.json").read_text())
    journal = json.loads((run_dir / "journal.json").read_text())
    start, end = verdict["fault_window"]["start"], verdict["fault_window"]["end"]
    probes = {r["activity"]["name"]: r.get("output") for r in journal.get("run", [])}

    def series(query: str) -> list[tuple[float, float]]:
        found = prometheus.matrix(query, start, end, 1.0)
        return found[0] if found else []

    desired = series("max(devsim_autoscaler_desired_replicas)")
    current = series("max(devsim_autoscaler_current_replicas)")
    load = series("max(devsim_autoscaler_load)")
    first_up = next((t for t, v in desired if v > FLOOR), None)
    needed = min(max(math.ceil(max((v for _, v in load), default=0) / TARGET), FLOOR), 6)
    return {"status": verdict["status"], "run_id": verdict["run_id"],
            "decision_latency_s": round(first_up - start, 1) if first_up is not None else None,
            "time_to_capacity_s": probes.get("seconds-until-a-fourth-replica-is-ready"),
            "overshoot": max((v for _, v in current), default=FLOOR) - needed,
            "flaps": reversals([v for _, v in desired]),
            "scale_in_s": probes.get("seconds-until-back-at-three")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    prometheus = Prometheus(load_settings({}).prometheus_url)
    runs = []
    for n in range(args.runs):
        print(f"run {n + 1}/{args.runs}", file=sys.stderr)
        runs.append(one_run(prometheus))
        time.sleep(5)
    figures = ("decision_latency_s", "time_to_capacity_s", "overshoot", "flaps", "scale_in_s")
    result = {"machine": platform.node(), "runs": runs, "hpa_on_paper": HPA_ON_PAPER,
              "median": {f: spread([r.get(f) for r in runs]) for f in figures}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "autoscale.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Autoscaler under a traffic spike", "", f"`{EXPERIMENT}`, {args.runs} runs (median, min, max).", "",
             "| figure | here | Kubernetes HPA defaults, on paper |", "|---|---|---|"]
    lines += [f"| {f} | {result['median'][f]} | {HPA_ON_PAPER.get(f.replace('_s', '').replace('_', ' '), '')} |"
              for f in figures]
    (RESULTS / "autoscale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
