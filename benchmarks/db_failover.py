"""Benchmark: PostgreSQL failover RTO and switchover write unavailability under load, with
the stack's tuned Patroni timings side by side with Patroni's defaults.

For each timing profile (DB_PATRONI_TIMINGS=tuned: ttl 20 s, loop_wait 2 s, retry_timeout
9 s; default: 30, 10, 10) it runs experiments/db-primary-failover.yaml and
experiments/db-switchover.yaml several times each through the real CLI and reads the
figures back from each run's verdict.json:
  failover:   RTO (kill -> first acknowledged write sent after it), seconds to one new
              leader, LOST writes, acknowledged writes audited;
  switchover: longest time without an acknowledged write, LOST, acknowledged.
Writes benchmarks/results/db_failover.{json,md} and leaves the stack on its tuned timings.

    .venv/bin/python benchmarks/db_failover.py [--runs 5] [--profiles tuned,default]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

from benchmarks.runs import devsim  # noqa: E402

TIMINGS = {"tuned": "ttl 20 s, loop_wait 2 s, retry_timeout 9 s",
           "default": "ttl 30 s, loop_wait 10 s, retry_timeout 10 s (Patroni's defaults)"}


def run_experiment(name: str) -> dict[str, Any]:
    done = devsim("run", "--no-up", f"experiments/{name}.yaml")
    paths = [line.strip() for line in done.stdout.splitlines() if line.strip().endswith("index.html")]
    if not paths:  # counted as a failed run; the others still count
        print(f"devsim run {name} wrote no report (exit {done.returncode}): {done.stderr.strip()[-500:]}", flush=True)
        return {"run_id": None, "status": "error", "reason": done.stderr.strip()[-500:], "rto_s": None,
                "new_leader_s": None, "unavailable_s": None, "lost": None, "acknowledged": None, "ghosts": None}
    verdict = json.loads((Path(paths[-1]).parent / "verdict.json").read_text())
    claims = {c["name"]: c for c in verdict["claims"]}
    audit = verdict.get("audit") or {}

    def measured(prefix: str) -> Any:
        return next((c["measured"] for n, c in claims.items() if n.startswith(prefix)), None)

    return {"run_id": verdict["run_id"], "status": verdict["status"], "reason": verdict["reason"],
            "rto_s": measured("writes are acknowledged again"), "new_leader_s": measured("exactly one new leader"),
            "unavailable_s": measured("writes stop"), "lost": audit.get("lost"),
            "acknowledged": audit.get("acknowledged"), "ghosts": audit.get("ghosts")}


def stats(values: list[float]) -> dict[str, Any]:
    values = [v for v in values if isinstance(v, int | float)]
    if not values:
        return {"median": None, "max": None}
    return {"median": round(statistics.median(values), 2), "max": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profiles", default="tuned,default")
    parser.add_argument("--summarize-only", action="store_true",
                        help="re-write the summary from benchmarks/results/db_failover.json, running nothing")
    args = parser.parse_args()
    if args.summarize_only:
        write(json.loads((RESULTS / "db_failover.json").read_text()))
        return
    results: dict[str, Any] = {"machine": platform.node(), "python": platform.python_version(),
                               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": args.runs, "profiles": {}}
    try:
        for profile in args.profiles.split(","):
            up = devsim("up", "--set", f"DB_PATRONI_TIMINGS={profile}")
            if up.returncode != 0:
                sys.exit(f"devsim up failed:\n{up.stderr[-2000:]}")
            runs: dict[str, list[dict[str, Any]]] = {"failover": [], "switchover": []}
            for i in range(args.runs):
                for kind, name in (("failover", "db-primary-failover"), ("switchover", "db-switchover")):
                    run = run_experiment(name)
                    runs[kind].append(run)
                    print(f"{profile} {kind} {i + 1}/{args.runs}: {run['status']} rto={run['rto_s']} "
                          f"unavailable={run['unavailable_s']} lost={run['lost']} acked={run['acknowledged']}",
                          flush=True)
            results["profiles"][profile] = {"timings": TIMINGS[profile], "runs": runs}
    finally:
        devsim("up")  # back to the shipped, tuned timings
    write(results)


def summarize(found: dict[str, Any]) -> dict[str, Any]:
    """The figures of one profile, from the runs that reported (a run that errored before
    measuring, e.g. a refused switchover, is counted in `runs passed` but not in the figures)."""
    runs = found["runs"]
    measured = {k: [r for r in runs[k] if r["status"] != "error"] for k in runs}
    return {
        "failover_rto_s": stats([r["rto_s"] for r in measured["failover"]]),
        "failover_new_leader_s": stats([r["new_leader_s"] for r in measured["failover"]]),
        "switchover_unavailable_s": stats([r["unavailable_s"] for r in measured["switchover"]]),
        "lost_total": sum(int(r["lost"] or 0) for k in runs for r in runs[k]),
        "acknowledged_per_run": stats([r["acknowledged"] for k in runs for r in runs[k]]),
        "passed": sum(r["status"] == "passed" for k in runs for r in runs[k]),
        "errors": [r["reason"] for k in runs for r in runs[k] if r["status"] == "error"],
        "total": sum(len(runs[k]) for k in runs),
    }


def write(results: dict[str, Any]) -> None:
    for found in results["profiles"].values():
        found.update(summarize(found))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "db_failover.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# PostgreSQL failover and switchover under load", "",
             f"{results['runs']} runs of each experiment per profile, 10 users of background load, "
             f"{results['started']}. Figures are median / max over the runs that measured.", "",
             "| Patroni timings | failover RTO | new leader | switchover unavailability | LOST (all runs) "
             "| acknowledged writes per run (median) | runs passed |", "|---|---|---|---|---|---|---|"]
    for profile, found in results["profiles"].items():
        rto, leader, unavailable = (found["failover_rto_s"], found["failover_new_leader_s"],
                                    found["switchover_unavailable_s"])
        lines.append(f"| {profile}: {found['timings']} | {rto['median']} s / {rto['max']} s | "
                     f"{leader['median']} s / {leader['max']} s | {unavailable['median']} s / {unavailable['max']} s | "
                     f"{found['lost_total']} | {found['acknowledged_per_run']['median']} | "
                     f"{found['passed']}/{found['total']} |")
    errors = [f"- {profile}: {e}" for profile, found in results["profiles"].items() for e in found["errors"]]
    if errors:
        lines += ["", "Runs that errored before measuring:", "", *errors]
    (RESULTS / "db_failover.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
