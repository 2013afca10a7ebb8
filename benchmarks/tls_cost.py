"""What TLS at the edge costs: the same load over HTTPS and over plain HTTP, through the load
balancer, in alternating rounds.

The stack runs with the switch EDGE_PLAIN_HTTP=serve (plain HTTP answered instead of
redirected) for the length of the benchmark, then is put back as shipped. Each round is a
bare `locust` run of the saturating locustfile (no think time, so throughput is what the
machine can carry) with the stack's CA and OAuth2 client, as `devsim load` gives them; one
round HTTPS, the next plain HTTP, and so on, so that drift on this shared machine falls on
both. New connections are few (each Locust user keeps its own), so this measures the
per-request cost of encryption more than handshakes.

    .venv/bin/python benchmarks/tls_cost.py [--users 20] [--seconds 30] [--rounds 3]

Writes benchmarks/results/tls_cost.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
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


def devsim(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "harness.cli", "--quiet", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"devsim {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def locust_env() -> dict[str, str]:
    """What `devsim load` gives Locust: the stack's CA and its OAuth2 client."""
    driver = driver_for(SETTINGS.stack)
    return stack_env(secrets.client_secret(driver), tls.trust(driver, SETTINGS))


def one_round(host: str, users: int, seconds: int, env: dict[str, str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host, "-u", str(users),
             "-r", str(users), "-t", f"{seconds}s", "--csv", f"{tmp}/round", "--only-summary",
             "--exit-code-on-error", "0", "--stop-timeout", "5"],
            cwd=tmp, capture_output=True, text=True, check=True, env=env, timeout=seconds + 120)
        with open(f"{tmp}/round_stats.csv", newline="") as fh:
            row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    requests = float(row["Request Count"])
    return {"rps": float(row["Requests/s"]), "p50_ms": float(row["50%"]), "p95_ms": float(row["95%"]),
            "requests": requests, "failures": float(row["Failure Count"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    devsim("up", "--set", "EDGE_PLAIN_HTTP=serve")
    rounds: dict[str, list[dict[str, float]]] = {"https": [], "http": []}
    try:
        env = locust_env()
        for i in range(args.rounds):
            for scheme, host in (("https", SETTINGS.lb_url), ("http", SETTINGS.lb_plain_url)):
                found = one_round(host, args.users, args.seconds, env)
                rounds[scheme].append(found)
                print(f"round {i + 1} {scheme}: {found}", file=sys.stderr)
    finally:
        devsim("up")  # as shipped: plain HTTP redirected again
    summary = {scheme: {k: statistics.median(r[k] for r in found) for k in ("rps", "p50_ms", "p95_ms")}
               | {"failures": sum(r["failures"] for r in found)} for scheme, found in rounds.items()}
    cost = {"throughput_pct": round(100 * (1 - summary["https"]["rps"] / summary["http"]["rps"]), 1),
            "p95_ms": round(summary["https"]["p95_ms"] - summary["http"]["p95_ms"], 1)}
    record = {"measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "users": args.users,
              "seconds": args.seconds, "rounds": rounds, "median": summary, "tls_cost": cost,
              "machine": f"{os.cpu_count()} cores, {platform.platform()}"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tls_cost.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = ["# What TLS at the edge costs", "",
             f"Measured {record['measured']} by `benchmarks/tls_cost.py` on {record['machine']}: "
             f"{args.users} users without think time (the saturating locustfile), {args.seconds} s per round, "
             f"{args.rounds} rounds each, alternating, through the load balancer.", "",
             "| scheme | requests/s (median) | p50 ms | p95 ms | failures |", "|---|---|---|---|---|"]
    for scheme in ("http", "https"):
        m = summary[scheme]
        lines.append(f"| {scheme} | {m['rps']:.1f} | {m['p50_ms']:g} | {m['p95_ms']:g} | {m['failures']:g} |")
    lines += ["", f"TLS costs **{cost['throughput_pct']} %** of the throughput and **{cost['p95_ms']:+g} ms** "
              "at p95 here (the medians of the rounds).", ""]
    (RESULTS / "tls_cost.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
