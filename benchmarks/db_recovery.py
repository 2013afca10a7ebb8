"""Benchmark: what the database's backups cost and what a disaster loses.

For each run it takes a full and an incremental backup with `devsim backup` (their duration
and what they added to the repository), then runs experiments/db-disaster-recovery.yaml under
write load (every node's data destroyed, then `devsim restore --to latest`) and reads back
from the run: the restore's seconds to a leader and to the steady state, the clients' RTO,
and the recovery point (how many acknowledged writes the audit found LOST, and how long
before the disaster the earliest of them was acknowledged). Writes
benchmarks/results/db_recovery.{json,md}.

    .venv/bin/python benchmarks/db_recovery.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

from benchmarks.runs import devsim, spread  # noqa: E402

EXPERIMENT = "experiments/db-disaster-recovery.yaml"


def backup(kind: str) -> dict[str, Any]:
    done = devsim("backup", "--type", kind, "--json")
    if done.returncode != 0:
        return {"type": kind, "error": done.stderr.strip()[-300:]}
    taken = json.loads(done.stdout)
    return {"type": kind, "seconds": round(taken["seconds"], 1), "stored_mib": round(taken["stored_bytes"] / 2**20, 2),
            "database_mib": round(taken["database_bytes"] / 2**20, 2)}


def disaster() -> dict[str, Any]:
    done = devsim("run", "--no-up", "--json", EXPERIMENT)
    try:
        [summary] = json.loads(done.stdout)
    except (json.JSONDecodeError, ValueError):
        return {"status": "error", "reason": done.stderr.strip()[-500:]}
    run_dir = Path(summary["run_dir"])
    verdict = json.loads((run_dir / "verdict.json").read_text())
    journal = json.loads((run_dir / "journal.json").read_text())
    restored = next((r.get("output") or {} for r in journal.get("run", [])
                     if r["activity"]["name"] == "restore-to-the-latest-point"), {})
    audit = json.loads((run_dir / "audit.json").read_text()) if (run_dir / "audit.json").exists() else {}
    claims = {c["name"]: c.get("measured") for c in verdict["claims"]}
    return {"run_id": verdict["run_id"], "status": verdict["status"], "reason": verdict["reason"],
            "restore_to_leader_s": restored.get("seconds_to_leader"),
            "restore_to_steady_s": restored.get("seconds_to_steady_state"),
            "rto_s": next((v for n, v in claims.items() if n.startswith("writes are acknowledged again")), None),
            "lost": audit.get("lost"), "acknowledged": audit.get("acknowledged"),
            "oldest_lost_age_s": next((v for n, v in claims.items() if n.startswith("every LOST write")), None)}


def write(result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "db_recovery.json").write_text(json.dumps(result, indent=2) + "\n")
    runs = result["runs"]
    lines = ["# Database backups and disaster recovery", "",
             f"Written by `benchmarks/db_recovery.py` on {result['when']} ({result['machine']}): {len(runs)} runs.", "",
             "| figure | median (min, max) |", "|---|---|"]
    for label, key, part in (("full backup: seconds", "seconds", "full"),
                             ("full backup: MiB stored", "stored_mib", "full"),
                             ("incremental backup: seconds", "seconds", "incr"),
                             ("incremental backup: MiB stored", "stored_mib", "incr"),
                             ("database size (MiB)", "database_mib", "full")):
        lines.append(f"| {label} | {spread([r[part].get(key) for r in runs])} |")
    for label, key in (("restore: seconds to a leader", "restore_to_leader_s"),
                       ("restore: seconds to the steady state", "restore_to_steady_s"),
                       ("clients' RTO (s)", "rto_s"), ("LOST acknowledged writes", "lost"),
                       ("earliest LOST write, s before the disaster", "oldest_lost_age_s"),
                       ("acknowledged writes audited", "acknowledged")):
        lines.append(f"| {label} | {spread([r['disaster'].get(key) for r in runs])} |")
    lines += ["", "| run | verdict | reason |", "|---|---|---|"]
    lines += [f"| {r['disaster'].get('run_id')} | {r['disaster'].get('status')} | {r['disaster'].get('reason')} |"
              for r in runs]
    (RESULTS / "db_recovery.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "machine": f"{platform.machine()}, {platform.platform()}", "runs": []}
    for n in range(args.runs):
        run = {"full": backup("full"), "incr": backup("incr"), "disaster": disaster()}
        print(f"run {n + 1}/{args.runs}: {json.dumps(run)}", flush=True)
        result["runs"].append(run)
        write(result)


if __name__ == "__main__":
    main()
