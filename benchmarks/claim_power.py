"""Benchmark: the power of the claims and the precision of the instrument, on the real stack.

  prove:       `devsim run --prove` on every shipped experiment: each claim held as shipped,
               and for each declared control the claims it names and what they measured under it;
  repeat:      `devsim run --repeat N` on the flagship experiment: passes out of N and the
               spread of each claim;
  calibration: outages of known length (every app replica frozen with `docker pause`, ten
               times about 1 s and once about 1.4 s, under 30 users), measured by the harness
               from its request log against the engine's own pause/unpause events.

Writes benchmarks/results/claim_power.{json,md}; each part can be run alone, and the others
are kept from the last results file.

    .venv/bin/python benchmarks/claim_power.py [--parts prove,repeat,calibration] [--repeat 5]
        [--calibration-runs 3] [--experiments a,b]
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

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
FLAGSHIP = "app-instance-crash"

from benchmarks.outage_calibration import SHORT_BELOW, SHORT_COUNT, TOLERANCE_S, PauseEvents, experiment, match  # noqa: E402
from benchmarks.runs import devsim, summary_of  # noqa: E402
from harness.config import load_settings  # noqa: E402
from harness.experiment import power  # noqa: E402
from harness.load import clientlog  # noqa: E402
from harness.verdict import timing  # noqa: E402


def prove(names: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        started = time.time()
        done = devsim("run", "--no-up", "--prove", "--json", f"experiments/{name}.yaml")
        summary = summary_of(done)
        row: dict[str, Any] = {"experiment": name, "exit": done.returncode, "status": summary.get("status"),
                               "reason": summary.get("reason"), "seconds": round(time.time() - started, 1),
                               "claims": [], "controls": summary.get("controls", [])}
        run_dir = Path(summary["run_dir"]) if summary.get("run_dir") else None
        for claim in summary.get("claims", []):
            row["claims"].append({k: claim.get(k) for k in ("name", "outcome", "measured", "power", "power_note")})
        row["run_id"] = run_dir.name if run_dir else None
        print(f"prove {name}: exit {done.returncode}, {row['status']}: {row['reason']}", flush=True)
        out.append(row)
    return out


def repeat(count: int) -> dict[str, Any]:
    done = devsim("run", "--no-up", "--repeat", str(count), "--json", f"experiments/{FLAGSHIP}.yaml")
    summary = summary_of(done)
    print(f"repeat {FLAGSHIP} x{count}: exit {done.returncode}, {summary.get('status')}: {summary.get('reason')}",
          flush=True)
    return {"experiment": FLAGSHIP, "count": count, "exit": done.returncode, **summary}


def calibration(runs: int) -> dict[str, Any]:
    settings = load_settings({})
    found: list[dict[str, Any]] = []
    for n in range(runs):
        path = RESULTS / "calibration-experiment.yaml"
        path.write_text(json.dumps(experiment()))
        with PauseEvents(settings.stack) as events:
            done = devsim("run", "--no-up", "--json", "--load-users", "30", str(path))
        path.unlink()
        summary = summary_of(done)
        if not summary.get("run_dir"):
            found.append({"run": n + 1, "error": summary.get("reason")})
            continue
        run_dir = Path(summary["run_dir"])
        verdict = json.loads((run_dir / "verdict.json").read_text())
        measured = timing.outages(clientlog.read(run_dir / "requests.csv"), min_gap_s=0.5)
        pairs = match(events.outages(), measured)
        found.append({"run": n + 1, "run_id": verdict["run_id"], "outages": pairs,
                      "found_by_harness": len(measured)})
        print(f"calibration run {n + 1}: {len(pairs)} outages made, {len(measured)} found", flush=True)
    errors = [p["length_error_s"] for r in found for p in r.get("outages", []) if p["length_error_s"] is not None]
    short = [p for r in found for p in r.get("outages", []) if p["true_s"] < SHORT_BELOW]
    return {"runs": found, "tolerance_s": TOLERANCE_S,
            "length_error_s": {"median": round(statistics.median(errors), 4) if errors else None,
                               "max_abs": round(max(map(abs, errors)), 4) if errors else None, "n": len(errors)},
            "one_second_outages_found": f"{sum(p['measured_s'] is not None for p in short)} of {len(short)}",
            "per_run_short": SHORT_COUNT}


def coverage() -> dict[str, Any]:
    """Per shipped experiment: its claims, those a control names, those that say why not."""
    rows = []
    for path in sorted((ROOT / "experiments").glob("*.yaml")):
        found = power.coverage(yaml.safe_load(path.read_text()))
        rows.append({"experiment": path.stem, "claims": found.claims, "controlled": len(found.controlled),
                     "reasoned": len(found.reasoned), "missing": list(found.missing)})
    return {"written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "experiments": rows}


def write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "claim_power.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    lines = ["# Claim power, repeated trials and the instrument's calibration", "",
             "Written by `benchmarks/claim_power.py`; each part says when it ran on the stack (a part run "
             "alone keeps the others from the last results).", ""]

    def when(part: str) -> str:
        at = results.get("at", {}).get(part) or results.get("started")  # "started": one date for all (older files)
        return f" ({at}, {results.get('machine')})"

    if results.get("coverage"):
        cov = results["coverage"]
        total = sum(r["claims"] for r in cov["experiments"])
        shown = sum(r["controlled"] for r in cov["experiments"])
        lines += [f"## Control coverage ({cov['written']}, from the experiment files)", "",
                  f"**{shown} of {total} claims** have a negative control (named in a control's `must_fail`); "
                  f"{sum(r['reasoned'] for r in cov['experiments'])} say why they have none (`no_control`); "
                  f"{sum(len(r['missing']) for r in cov['experiments'])} neither.", "",
                  "| experiment | claims | with a control | no_control, with a reason | neither |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['experiment']} | {r['claims']} | {r['controlled']} | {r['reasoned']} | "
                  f"{', '.join(r['missing']) or '-'} |" for r in cov["experiments"]]
        lines.append("")
    if results.get("prove"):
        lines += [f"## `devsim run --prove` on every shipped experiment{when('prove')}", "",
                  "| experiment | exit | verdict | claim | power: under its control |", "|---|---|---|---|---|"]
        for row in results["prove"]:
            powered = [c for c in row["claims"] if c.get("power")]
            for claim in powered or [{"name": "-", "power": "", "power_note": ""}]:
                lines.append(f"| {row['experiment']} | {row['exit']} | {row['status']} | {claim['name']} | "
                             f"{claim.get('power')}: {claim.get('power_note')} |")
        lines.append("")
    if results.get("repeat"):
        rep = results["repeat"]
        title = f"`devsim run --repeat {rep['count']}` on {rep['experiment']}: {rep.get('status')}"
        lines += [f"## {title}{when('repeat')}", "",
                  f"{rep.get('reason')}", "", "| claim | held | median | min | max | flaky |",
                  "|---|---|---|---|---|---|"]
        for t in rep.get("claims", []):
            lines.append(f"| {t['name']} | {t['passes']}/{t['runs']} | {t['median']} | {t['min']} | {t['max']} | "
                         f"{'FLAKY' if t['flaky'] else ''} |")
        lines.append("")
    if results.get("calibration"):
        cal = results["calibration"]
        err = cal["length_error_s"]
        lines += [f"## Calibration: outages of known length{when('calibration')}", "",
                  f"- outage length, harness minus engine: median {err['median']} s, largest {err['max_abs']} s "
                  f"in absolute value, over {err['n']} outages (tolerance {cal['tolerance_s']} s)",
                  f"- outages of about 1 s found: {cal['one_second_outages_found']}", "",
                  "| run | engine (s) | harness (s) | error (s) |", "|---|---|---|---|"]
        for run in cal["runs"]:
            for p in run.get("outages", []):
                lines.append(f"| {run['run']} | {p['true_s']} | {p['measured_s']} | {p['length_error_s']} |")
    (RESULTS / "claim_power.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="coverage,prove,repeat,calibration")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calibration-runs", type=int, default=3)
    parser.add_argument("--experiments", default="", help="comma-separated names (default: every shipped one)")
    args = parser.parse_args()
    old = RESULTS / "claim_power.json"
    results: dict[str, Any] = json.loads(old.read_text()) if old.exists() else {}
    parts = args.parts.split(",")
    if set(parts) - {"coverage"}:  # the date of each part run on the stack (coverage carries its own)
        now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        results["machine"] = platform.node()
        results.setdefault("at", {}).update({part: now for part in parts if part != "coverage"})
    if "coverage" in parts:  # from the files alone: no stack needed
        results["coverage"] = coverage()
    up = devsim("up") if set(parts) - {"coverage"} else None  # every switch as shipped; boots the stack
    if up is not None and up.returncode != 0:
        sys.exit(f"devsim up failed: {up.stderr.strip()[-400:]}")
    if "prove" in parts:
        names = args.experiments.split(",") if args.experiments else sorted(
            p.stem for p in (ROOT / "experiments").glob("*.yaml"))
        previous = {r["experiment"]: r for r in results.get("prove", [])}
        previous.update({r["experiment"]: r for r in prove(names)})
        results["prove"] = [previous[k] for k in sorted(previous)]
    if "repeat" in parts:
        results["repeat"] = repeat(args.repeat)
    if "calibration" in parts:
        results["calibration"] = calibration(args.calibration_runs)
    write(results)


if __name__ == "__main__":
    main()
