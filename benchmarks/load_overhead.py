"""Benchmark: what `devsim load` costs against bare Locust, with wrk as the machine's practical limit.

Against a running stack (`devsim up`), in one run, the two Locust runs swapping places each round:
  - `devsim load` with the saturating locustfile (no think time), its request log and pushes on;
  - the bare `locust` CLI, same locustfile, users and duration, none of the harness options;
  - `wrk` on GET /api/version (one cheap route; the ceiling, not a like-for-like client).
Writes benchmarks/results/load_overhead.{json,md}.

    .venv/bin/python benchmarks/load_overhead.py [--users 20] [--seconds 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.config import load_settings
from harness.driver import driver_for
from harness.load.runner import stack_env
from harness.target import secrets, tls

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "benchmarks" / "saturating_locustfile.py"
RESULTS = ROOT / "benchmarks" / "results"
SETTINGS = load_settings(os.environ)
HOST = SETTINGS.lb_url  # HTTPS at the edge, verified against the stack's CA
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH rps=%f p95_ms=%f\\n", summary.requests / (summary.duration / 1e6),
                         latency:percentile(95) / 1000))
end
"""


def devsim_load(users: int, seconds: int) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "--quiet", "load", "--users", str(users), "--spawn-rate", str(users),
         "--run-time", f"{seconds}s", "--locustfile", str(LOCUSTFILE), "--slo", "error_ratio<1"],
        cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"devsim load failed:\n{done.stdout}\n{done.stderr}")
    run_dir = Path(done.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    totals = json.loads((run_dir / "summary.json").read_text())["totals"]
    return float(totals["rps"]), float(totals["p95"])


def _locust_env() -> dict[str, str]:
    """What `devsim load` gives Locust: the stack's CA and its OAuth2 client."""
    driver = driver_for(SETTINGS.stack)
    return stack_env(secrets.client_secret(driver), tls.trust(driver, SETTINGS))


def bare_locust(users: int, seconds: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", HOST, "-u", str(users),
             "-r", str(users), "-t", f"{seconds}s", "--csv", f"{tmp}/bare", "--only-summary",
             "--exit-code-on-error", "0", "--stop-timeout", "5"],
            cwd=tmp, capture_output=True, text=True, check=True, env=_locust_env())
        with open(f"{tmp}/bare_stats.csv", newline="") as fh:
            row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    return float(row["Requests/s"]), float(row["95%"])


def wrk(users: int, seconds: int) -> tuple[float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT)
        script.flush()
        done = subprocess.run(["wrk", "-t", "2", "-c", str(users), "-d", f"{seconds}s", "-s", script.name,
                               f"{HOST}/api/version"], capture_output=True, text=True, check=True)
    m = re.search(r"BENCH rps=([\d.]+) p95_ms=([\d.]+)", done.stdout)
    if not m:
        sys.exit(f"cannot read wrk's output:\n{done.stdout}")
    return float(m.group(1)), float(m.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    runs: dict[str, list[tuple[float, float]]] = {"devsim load": [], "bare locust": [], "wrk": []}
    clients = (("devsim load", devsim_load), ("bare locust", bare_locust))
    for n in range(args.rounds):
        # The two Locust runs swap places every round, so that drift (the items table grows,
        # the stack warms up) does not favour one of them; wrk, the ceiling, runs last.
        order = clients if n % 2 == 0 else clients[::-1]
        for name, fn in (*order, ("wrk", wrk)):
            runs[name].append(fn(args.users, args.seconds))
            print(f"round {n + 1} {name}: {runs[name][-1][0]:.1f} rps, p95 {runs[name][-1][1]:.1f} ms",
                  file=sys.stderr)
            time.sleep(2)

    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in runs.items()}
    ratio = med["devsim load"][0] / med["bare locust"][0]
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "users": args.users,
              "seconds": args.seconds, "rounds": args.rounds,
              "runs": {k: [{"rps": round(a, 1), "p95_ms": round(b, 1)} for a, b in v] for k, v in runs.items()},
              "median": {k: {"rps": round(a, 1), "p95_ms": round(b, 1)} for k, (a, b) in med.items()},
              "devsim_over_bare_locust_rps": round(ratio, 3), "aim": ">= 0.95"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Load generator overhead", "",
             f"Measured {result['when']} by `benchmarks/load_overhead.py`: {args.users} users, {args.seconds} s "
             f"per run, {args.rounds} alternating rounds, medians; stack and load share the machine's 2 cores.", "",
             "| client | requests/s | p95 |", "|---|---|---|"]
    lines += [f"| {k} | {a:.1f} | {b:.1f} ms |" for k, (a, b) in med.items()]
    lines += ["", f"devsim load / bare Locust throughput: **{ratio:.3f}** (aim: at least 0.95). "
              "wrk requests one cheap route with no think time and no per-request Python; it is the ceiling "
              "of this machine, not a like-for-like client."]
    (RESULTS / "load_overhead.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
