"""Benchmark: what clients see when one of three app replicas hangs, with the edge's bounded,
retried attempts and without them (LB_RETRY_ON="conn-failure empty-response 503"), and what
those retries cost when the database is slow instead.

For each edge setting it runs experiments/app-instance-hang.yaml with the freeze held 2, 6 and
15 s, several times each, and experiments/db-latency.yaml with 300, 1000 and 2500 ms of
database latency, through the real CLI (10 users of background load), and reads back from
each run's verdict.json: client requests and failed requests in the fault window, p99 and the
slowest request, the retries HAProxy made (its retry counter's increase over the window), LOST
and duplicate writes. Writes benchmarks/results/hang.{json,md} and leaves the stack on its
shipped edge.

    .venv/bin/python benchmarks/hang.py [--runs 3] [--freezes 2,6,15] [--latencies 300,1000,2500]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
HANG = ROOT / "experiments" / "app-instance-hang.yaml"
LATENCY = ROOT / "experiments" / "db-latency.yaml"
EDGES = {"retried": "", "not retried": "conn-failure empty-response 503"}

from benchmarks.runs import devsim, spread, summary_of  # noqa: E402

FIGURES: dict[str, tuple[str, dict[str, Any]]] = {
    "requests": ("client_requests", {}), "failed": ("client_failed_requests", {}),
    "p99_ms": ("client_latency_ms", {"percentile": 99}), "max_ms": ("client_latency_ms", {"percentile": 100}),
    "retries": ("prometheus_over_window",
                {"query": "sum(haproxy_backend_retry_warnings_total)", "aggregate": "increase"}),
}
WIDE = {"type": "range", "range": [0, 1e12]}


def variant(kind: str, amount: float, folder: Path) -> Path:
    """The hang experiment with the freeze held `amount` seconds, or the latency experiment with
    `amount` ms of latency, with the benchmark's figures as claims that always hold (the
    verdict records what each measured)."""
    doc = yaml.safe_load((HANG if kind == "freeze" else LATENCY).read_text())
    if kind == "freeze":
        doc["method"][0]["pauses"] = {"after": amount}
    else:
        doc["method"][0]["provider"]["arguments"]["delay_ms"] = amount
    devsim_ext = next(e for e in doc["extensions"] if e["name"] == "devsim")
    devsim_ext.pop("controls", None)
    devsim_ext.pop("abort_when", None)  # measure what happens, even where the shipped run would stop
    devsim_ext["claims"] = [{"name": name, "probe": probe, "arguments": {"window": "fault", **arguments},
                             "no_control": "a benchmark figure", "tolerance": WIDE}
                            for name, (probe, arguments) in FIGURES.items()]
    devsim_ext["claims"] += [{"name": field, "probe": "write_audit", "arguments": {"field": field},
                              "no_control": "a benchmark figure", "tolerance": WIDE}
                             for field in ("lost", "duplicates")]
    path = folder / f"{kind}-{amount:g}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_once(path: Path) -> dict[str, Any]:
    summary = summary_of(devsim("run", "--no-up", "--json", str(path)))
    measured = {c["name"]: c["measured"] for c in summary.get("claims", [])}
    return {"run_id": summary.get("run_id"), "status": summary["status"], "reason": summary["reason"],
            **{name: measured.get(name) for name in [*FIGURES, "lost", "duplicates"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--freezes", default="2,6,15", help="seconds each freeze is held, comma-separated")
    parser.add_argument("--latencies", default="300,1000,2500", help="database latencies in ms, comma-separated")
    parser.add_argument("--summarize-only", action="store_true",
                        help="re-write the summary from benchmarks/results/hang.json, running nothing")
    args = parser.parse_args()
    if args.summarize_only:
        write(json.loads((RESULTS / "hang.json").read_text()))
        return
    faults = [("freeze", float(f)) for f in args.freezes.split(",") if f] + [
        ("latency", float(ms)) for ms in args.latencies.split(",") if ms]
    results: dict[str, Any] = {"machine": platform.node(), "python": platform.python_version(),
                               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": args.runs, "edges": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="devsim-hang-") as folder:
            paths = {fault: variant(*fault, Path(folder)) for fault in faults}
            for edge, retry_on in EDGES.items():
                up = devsim("up", *(["--set", f"LB_RETRY_ON={retry_on}"] if retry_on else []))
                if up.returncode != 0:
                    sys.exit(f"devsim up failed:\n{up.stderr[-2000:]}")
                results["edges"][edge] = {"retry_on": retry_on or "the shipped default", "faults": {}}
                for (kind, amount), path in paths.items():
                    runs = []
                    for i in range(args.runs):
                        runs.append(run_once(path))
                        print(f"{edge} {kind} {amount:g} {i + 1}/{args.runs}: {runs[-1]}", flush=True)
                    results["edges"][edge]["faults"][label(kind, amount)] = runs
    finally:
        devsim("up")  # back to the shipped edge
    write(results)


def label(kind: str, amount: float) -> str:
    return f"frozen {amount:g} s" if kind == "freeze" else f"database latency {amount:g} ms"


def write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hang.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# One app replica of three frozen, under load", "",
             f"`experiments/app-instance-hang.yaml` with the freeze held for each length, and "
             f"`experiments/db-latency.yaml` with each latency (10 s), {results['runs']} runs each, 10 users of "
             f"background load, {results['started']} on {results['machine']}. Figures are over the fault window "
             "(the freeze to 3 s after the replica is ready again; the 10 s of latency): median (min, max) of the "
             "runs. Retries: the increase of HAProxy's retry counter over the window.",
             "", "| edge | fault | failed / requests per run | failed share | p99 | slowest request | retries "
             "| LOST | duplicates | runs that measured |", "|---|---|---|---|---|---|---|---|---|---|"]
    for edge, found in results["edges"].items():
        for fault, runs in found["faults"].items():
            ok = [r for r in runs if r["status"] != "error"]
            pairs = ", ".join(f"{r['failed']}/{r['requests']}" for r in ok)
            shares = [r["failed"] / r["requests"] for r in ok if r["requests"]]
            share = spread([round(100 * s, 2) for s in shares])
            lines.append(f"| {edge} (`{found['retry_on']}`) | {fault} | {pairs} | {share} % | "
                         f"{spread([r['p99_ms'] for r in ok])} ms | {spread([r['max_ms'] for r in ok])} ms | "
                         f"{', '.join(str(r['retries']) for r in ok)} | "
                         f"{sum(int(r['lost'] or 0) for r in ok)} | {sum(int(r['duplicates'] or 0) for r in ok)} | "
                         f"{len(ok)}/{len(runs)} |")
    (RESULTS / "hang.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
