"""Benchmark (issue #33): the app's autoscaler on one ramp of load, reactive and predictive
(`EXPERIMENTAL_MODE=true`) side by side, with the HorizontalPodAutoscaler's default timings
for the same ramp worked out on paper.

For each mode it sets the switch with `devsim up --set`, then runs a variant of
experiments/traffic-spike-autoscale.yaml whose spike is a ramp (`--users` more users, reached
at `--spawn-rate` a second, held to `--seconds` in all) beside the run's own 10 users, several
times, through the real CLI, and reads back from each run's verdict.json:

- the seconds from the ramp's start until 4 and until 5 replicas are ready (the engine's count,
  as the scaling experiments read it): time to capacity;
- the most app replicas in the load balancer's rotation over the run, and the most load the
  autoscaler read: overshoot is the first minus ceil(peak load / target);
- the autoscaler's scale-ins while the load rose or held (a flap), and its decisions;
- failed client requests.

Writes benchmarks/results/autoscale.{json,md} and leaves the stack with its shipped switches.

    .venv/bin/python benchmarks/autoscale.py [--runs 3] [--users 14] [--spawn-rate 0.2] [--seconds 150]

14 users more peak at about 190 requests a second with the run's 10 (about 8 a second each on
this machine): 5 replicas of 40, one under the maximum, so that an overshoot can show.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
SPIKE = ROOT / "experiments" / "traffic-spike-autoscale.yaml"
MODES = {"reactive": "false", "predictive": "true"}
TARGET = 40.0  # requests a second per replica: stack.yml's shipped AUTOSCALE_TARGET

from benchmarks.runs import devsim, spread, summary_of  # noqa: E402

WIDE = {"type": "range", "range": [0, 1e12]}
FIGURES: dict[str, tuple[str, dict[str, Any]]] = {
    "most_replicas": ("prometheus_over_window",
                      {"query": 'sum(haproxy_backend_active_servers{proxy="app"})', "aggregate": "max"}),
    "peak_load": ("prometheus_over_window", {"query": "max(devsim_autoscaler_load)", "aggregate": "max"}),
    "scale_ins": ("prometheus_over_window",
                  {"query": 'sum(devsim_autoscaler_decisions_total{outcome="scaled",kind="down"}) or vector(0)',
                   "aggregate": "increase"}),
    "scale_outs": ("prometheus_over_window",
                   {"query": 'sum(devsim_autoscaler_decisions_total{outcome="scaled",kind="up"}) or vector(0)',
                    "aggregate": "increase"}),
    "failed": ("client_failed_requests", {}),
    "requests": ("client_requests", {}),
}
REACHED = {"until_4": 4, "until_5": 5}


def variant(users: int, spawn_rate: float, seconds: float, folder: Path) -> Path:
    """The spike experiment with a ramp for a spike, held until `seconds` after its start; its
    claims the benchmark's figures, which always hold (verdict.json records each measure)."""
    doc = yaml.safe_load(SPIKE.read_text())
    ramp = {"type": "action", "name": "ramp",
            "provider": {"type": "python", "module": "harness.chaos.actions", "func": "spike_load",
                         "arguments": {"users": users, "seconds": seconds, "spawn_rate": spawn_rate}}}
    reach = [{"type": "probe", "name": name,
              "provider": {"type": "python", "module": "harness.chaos.scaling", "func": "seconds_until_replicas",
                           "arguments": {"service": "app", "count": count, "direction": "up", "timeout": seconds,
                                         "since": "fault"}}}
             for name, count in REACHED.items()]
    hold = {"type": "action", "name": "until-the-ramp-ends",
            "provider": {"type": "python", "module": "harness.chaos.actions", "func": "wait_for_load_spike",
                         "arguments": {"timeout": seconds + 30}}}
    end = {"type": "action", "name": "end-of-the-ramp",
           "provider": {"type": "python", "module": "harness.chaos.actions", "func": "stop_load_spike"}}
    doc["method"] = [ramp, *reach, hold, end]
    # the floor before the ramp (`devsim run` waits for it), but not after: the scale-in takes
    # the 60 s window, and the next run's wait for the floor covers it
    probes = doc["steady-state-hypothesis"]["probes"]
    doc["steady-state-hypothesis"]["probes"] = [p for p in probes if p["name"] != "three-app-replicas-running"]
    devsim_ext = next(e for e in doc["extensions"] if e["name"] == "devsim")
    devsim_ext.pop("controls", None)
    devsim_ext["claims"] = [{"name": name, "journal": name, "no_control": "a benchmark figure",
                             "tolerance": WIDE} for name in REACHED]
    devsim_ext["claims"] += [{"name": name, "probe": probe, "arguments": {"window": "fault", **arguments},
                              "no_control": "a benchmark figure", "tolerance": WIDE}
                             for name, (probe, arguments) in FIGURES.items()]
    path = folder / "ramp.yaml"
    path.write_text(yaml.safe_dump(json.loads(json.dumps(doc)), sort_keys=False))  # no shared objects: no aliases
    return path


def run_once(path: Path) -> dict[str, Any]:
    summary = summary_of(devsim("run", "--no-up", "--json", str(path)))
    claims = {c["name"]: c for c in summary.get("claims", [])}
    found: dict[str, Any] = {"run_id": summary.get("run_id"), "status": summary["status"],
                             "reason": summary.get("reason")}
    for name in [*REACHED, *FIGURES]:
        claim = claims.get(name, {})
        found[name] = claim.get("measured")
        if name in REACHED and found[name] is None:
            found[f"{name}_at_least"] = claim.get("at_least")  # not reached: waited this long
    if isinstance(found["peak_load"], int | float) and isinstance(found["most_replicas"], int | float):
        found["needed"] = max(3, math.ceil(found["peak_load"] / TARGET))
        found["overshoot"] = found["most_replicas"] - found["needed"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=14, help="users the ramp adds to the run's 10")
    parser.add_argument("--spawn-rate", type=float, default=0.2, help="users a second the ramp adds")
    parser.add_argument("--seconds", type=float, default=150, help="the ramp and its hold, in all")
    parser.add_argument("--summarize-only", action="store_true",
                        help="re-write the summary from benchmarks/results/autoscale.json, running nothing")
    args = parser.parse_args()
    if args.summarize_only:
        write(json.loads((RESULTS / "autoscale.json").read_text()))
        return
    results: dict[str, Any] = {"machine": platform.node(), "python": platform.python_version(),
                               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": args.runs,
                               "users": args.users, "spawn_rate": args.spawn_rate, "seconds": args.seconds,
                               "modes": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="devsim-autoscale-") as folder:
            path = variant(args.users, args.spawn_rate, args.seconds, Path(folder))
            for i in range(args.runs):  # the modes in turn, so that a drift of the machine hits both
                for mode, value in MODES.items():
                    up = devsim("up", "--set", f"EXPERIMENTAL_MODE={value}")
                    if up.returncode != 0:
                        sys.exit(f"devsim up failed:\n{up.stderr[-2000:]}")
                    runs = results["modes"].setdefault(mode, [])
                    runs.append(run_once(path))
                    print(f"{mode} {i + 1}/{args.runs}: {runs[-1]}", flush=True)
    finally:
        devsim("up")  # back to the shipped switches
    write(results)


MARGIN_S = 10.0  # the claim's stated margin: predictive at capacity this much earlier, at least


def claim(modes: dict[str, list[dict[str, Any]]]) -> str:
    """The issue's claim, judged on the medians: predictive reaches 4 and 5 replicas at least
    MARGIN_S earlier than reactive, with no more overshoot."""
    def median(mode: str, name: str) -> float | None:
        found = [r[name] for r in modes.get(mode, []) if isinstance(r.get(name), int | float)]
        return statistics.median(found) if found else None

    figures: dict[str, tuple[float, float]] = {}
    for name in ("until_4", "until_5", "overshoot"):
        reactive, predictive = median("reactive", name), median("predictive", name)
        if reactive is None or predictive is None:
            return f"Claim: not judged (no {name} in a mode)."
        figures[name] = (reactive, predictive)
    leads = [figures[n][0] - figures[n][1] for n in ("until_4", "until_5")]
    earlier = all(lead >= MARGIN_S for lead in leads)
    reactive_over, predictive_over = figures["overshoot"]
    no_more = predictive_over <= reactive_over
    word = {True: "held", False: "failed"}
    return (f"Claim (issue #33): predictive reaches 4 and 5 replicas at least {MARGIN_S:g} s earlier than reactive, "
            f"with no more overshoot: **{word[earlier and no_more]}**. Earlier by {leads[0]:g} s and {leads[1]:g} s "
            f"({word[earlier]}); overshoot {predictive_over:g} against {reactive_over:g} ({word[no_more]}).")


def paper(users: int, spawn_rate: float) -> str:
    """The HPA's default timings for the same ramp, worked out: when a 4th replica would be asked for."""
    per_user = 8.0  # requests a second one user of the locustfile makes here (measured: 268 for 34)
    base = 10 * per_user
    at = max(0.0, (3 * TARGET * 1.1 - base) / (per_user * spawn_rate))  # the load passes 3 x target + 10 %
    return (f"With the HPA's defaults (a 15 s sync period, metrics-server's 15 s resolution and a 60 s CPU window, "
            f"no scale-up window), the load passes 3 x {TARGET:g} + 10 % about {at:.0f} s into the ramp "
            f"({users} users at {spawn_rate:g} a second, about {per_user:g} requests a second each, beside "
            f"{base:g}); the HPA would ask for a 4th pod up to 15 s + 15 s after that, and the pod start on top.")


def write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "autoscale.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# The autoscaler on a ramp: reactive and predictive", "",
             f"A variant of `experiments/traffic-spike-autoscale.yaml` whose spike is a ramp: {results['users']} "
             f"users more, {results['spawn_rate']:g} a second, {results['seconds']:g} s in all, beside 10 users; "
             f"{results['runs']} runs a mode, the modes in turn, {results['started']} on {results['machine']} "
             "(2 cores). Shipped switches otherwise: floor 3, max 6, 40 requests/s a replica, 5 s loop, 60 s "
             "scale-down window; predictive is `EXPERIMENTAL_MODE=true` (the load's trend 20 s ahead). "
             "Seconds count from the ramp's start; median (min, max) of the runs.",
             "", "| mode | 4 replicas ready (s) | 5 ready (s) | peak load (req/s) | most replicas | overshoot | "
             "scale-outs | scale-ins under the ramp | failed / requests | runs that measured |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for mode, runs in results["modes"].items():
        ok = [r for r in runs if r["status"] != "error"]
        lines.append(f"| {mode} | {spread([r['until_4'] for r in ok])} | {spread([r['until_5'] for r in ok])} | "
                     f"{spread([r['peak_load'] for r in ok])} | {spread([r['most_replicas'] for r in ok])} | "
                     f"{spread([r.get('overshoot') for r in ok])} | {spread([r['scale_outs'] for r in ok])} | "
                     f"{spread([r['scale_ins'] for r in ok])} | "
                     f"{', '.join(str(r['failed']) + '/' + str(r['requests']) for r in ok)} | "
                     f"{len(ok)}/{len(runs)} |")
    lines += ["", claim(results["modes"]), "", paper(results["users"], results["spawn_rate"])]
    (RESULTS / "autoscale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
