"""Benchmark (#36): judging and reporting a run that lasted hours.

Builds a run folder for each length asked: the recorded run in tests/unit/data/chaos-run
(its journal, verdict, experiment and request log, unchanged) with HOURS of synthetic traffic
before it at RATE requests a second (the shipped locustfile's mix of routes and their usual
latencies), and outages of known length placed in that traffic: every request that ends
inside one fails, as a refused connection does. Then, each in a process of its own:

- `devsim judge RUN --json`: time and peak memory; its verdict must be the one the recorded
  run alone gets (the hours before the fault change no claim);
- `devsim report RUN`: time, peak memory and the page's size;
- the outages the request log shows (as `harness.verdict.timing.outages`, over the log read
  in a stream): each placed outage must be found within 100 ms at both ends.

No stack needed. Results: benchmarks/results/long_runs.{json,md} (`--no-write` to skip).

    .venv/bin/python benchmarks/long_runs.py --hours 1 [8 24] [--rate 220] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "tests" / "unit" / "data" / "chaos-run"
RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable
# The shipped locustfile's tasks, by weight, with a latency typical of each (ms, from the soak).
ROUTES = (("POST /api/items", "POST", 201, 3, 9.0), ("GET /api/items/:id", "GET", 200, 4, 6.0),
          ("GET /api/me", "GET", 200, 2, 5.0), ("GET /api/report", "GET", 200, 1, 260.0),
          ("GET /api/version", "GET", 200, 1, 4.0))
OUTAGES_S = (0.5, 1.0, 2.0, 5.0)  # placed at 1/5, 2/5, 3/5 and 4/5 of the synthetic hours
REFUSED = "ConnectionRefusedError(111, 'Connection refused')"
TOLERANCE_S = 0.1


def placed_outages(start_s: float, seconds: float) -> list[tuple[float, float]]:
    return [(round(start_s + seconds * (i + 1) / (len(OUTAGES_S) + 1), 3),
             round(start_s + seconds * (i + 1) / (len(OUTAGES_S) + 1) + length, 3))
            for i, length in enumerate(OUTAGES_S)]


def synthesize(base_log: Path, out: Path, hours: float, rate: float, seed: int = 36) -> list[tuple[float, float]]:
    """The request log: `hours` of synthetic traffic ending 60 s before the recorded log's
    first request, then the recorded log. Returns the outages placed, (from, to) in seconds."""
    lines = base_log.read_text().splitlines(keepends=True)
    header, recorded = lines[0], lines[1:]
    first_ms = min(int(line.split(",", 1)[0]) for line in recorded)
    seconds = hours * 3600
    start_s = first_ms / 1000 - 60 - seconds
    outages = placed_outages(start_s, seconds)
    rng = random.Random(seed)
    weights = [r[3] for r in ROUTES]
    gap_ms = 1000.0 / rate
    t_ms = start_s * 1000
    end_ms = start_s * 1000 + seconds * 1000
    with out.open("w", newline="") as fh:
        fh.write(header)
        chunk: list[str] = []
        while t_ms < end_ms:
            t_ms += rng.expovariate(1.0 / gap_ms)
            name, method, status, _, typical = rng.choices(ROUTES, weights)[0]
            latency = round(typical * (0.5 + rng.random()), 2)
            end_s = (t_ms + latency) / 1000
            down = any(a <= end_s <= b for a, b in outages)
            item = f"{rng.getrandbits(128):032x}" if method == "POST" else ""
            if down:
                ack = "unknown" if item else ""
                chunk.append(f"{int(t_ms)},{name},{method},0,{latency:.2f},0,{REFUSED},{item},{ack}\n")
            else:
                ack = "ack" if item else ""
                chunk.append(f"{int(t_ms)},{name},{method},{status},{latency:.2f},1,,{item},{ack}\n")
            if len(chunk) >= 100_000:
                fh.writelines(chunk)
                chunk = []
        fh.writelines(chunk)
        fh.writelines(recorded)
    return outages


def measured(args: list[str], work: Path) -> dict[str, Any]:
    """Runs a command in a process of its own (its runs' index in `work`): its exit code,
    standard output, wall time and peak RSS."""
    env = {**os.environ, "DEVSIM_REPORTS_DIR": str(work)}
    began = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return {"exit": child.returncode, "seconds": round(time.perf_counter() - began, 2),
            "peak_mib": round(usage.ru_maxrss / 1024, 1), "output": text}


# timing.outages over the log read in a stream, in the order requests ended: each stretch
# over 0.3 s between successive successes (it sorts every row in memory; this does not).
FIND_OUTAGES = """
import json, sys
from harness.load import logindex
found, before = [], None
for r in logindex.by_end(sys.argv[1]):
    if r.success:
        after = r.end_ms / 1000.0
        if before is not None and after - before > 0.3:
            found.append((before, after))
        before = after
print(json.dumps(found))
"""


def judged(run: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    found = measured([PYTHON, "-m", "harness.cli", "judge", str(run), "--json"], run.parent)
    start = found["output"].find("{")
    verdict = json.JSONDecoder().raw_decode(found["output"][start:])[0] if start >= 0 else None
    return found, verdict


def one_length(hours: float, rate: float, work: Path) -> dict[str, Any]:
    run = work / f"long-{hours:g}h"
    shutil.copytree(BASE, run)
    began = time.perf_counter()
    outages = synthesize(BASE / "requests.csv", run / "requests.csv", hours, rate)
    made_s = time.perf_counter() - began
    rows = sum(1 for _ in (run / "requests.csv").open()) - 1
    judge, verdict = judged(run)
    report = measured([PYTHON, "-m", "harness.cli", "report", str(run)], work)
    finder = measured([PYTHON, "-c", FIND_OUTAGES, str(run / "requests.csv")], work)
    found = [tuple(o) for o in json.loads(finder["output"].strip().splitlines()[-1])] if finder["exit"] == 0 else []
    matched = []
    for placed in outages:
        near = [f for f in found if abs(f[0] - placed[0]) <= TOLERANCE_S and abs(f[1] - placed[1]) <= TOLERANCE_S]
        matched.append({"placed": placed, "found": near[0] if near else None,
                        "error_ms": [round((near[0][i] - placed[i]) * 1000) for i in (0, 1)] if near else None})
    page = run / "index.html"
    return {"hours": hours, "rate": rate, "requests": rows, "log_mib": round((run / "requests.csv").stat().st_size
                                                                             / 2**20, 1),
            "synthesized_s": round(made_s, 1), "judge": {k: v for k, v in judge.items() if k != "output"},
            "verdict": {"status": verdict["status"], "claims": [[c["name"], c["outcome"], c["measured"]]
                                                                for c in verdict["claims"]]} if verdict else None,
            "report": {k: v for k, v in report.items() if k != "output"},
            "page_mib": round(page.stat().st_size / 2**20, 2) if page.exists() else None,
            "finder": {k: v for k, v in finder.items() if k != "output"}, "outages": matched,
            "other_outages_found": [f for f in found if f not in [m["found"] for m in matched]
                                    and f[1] < outages[-1][1] + 60]}


# The same script at 7582640, before the log was read by window and in one pass (every row
# in memory, once per claim and once for the report), 2026-12-08, one hour only.
BEFORE = ("Before (7582640: every row in memory): 1 hour, 792,175 requests: judge 3.9 s, peak 325.8 MiB; "
          "report 4.56 s, peak 334.3 MiB; page 1.27 MiB. Growing with the run, 24 hours would have needed about "
          "7.5 GiB to judge.")


def render(result: dict[str, Any]) -> str:
    base = result["base_verdict"]
    lines = ["# Long runs: judging and reporting (#36)", "",
             f"Measured {result['measured_at']} by `benchmarks/long_runs.py` on this machine (2 cores): the "
             "recorded run `tests/unit/data/chaos-run` with hours of synthetic traffic before it, outages of "
             f"{', '.join(f'{s:g}' for s in OUTAGES_S)} s placed in it. Each step in a process of its own; peak "
             "memory is that process's maximum resident set.", "",
             f"The recorded run alone is judged `{base['status']}`.", "",
             "| hours | requests | log MiB | judge s | judge peak MiB | report s | report peak MiB | page MiB "
             "| outage finder s / MiB | outages found (±100 ms) | verdict as the run alone |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["lengths"]:
        same = r["verdict"] is not None and r["verdict"] == base
        found = sum(1 for m in r["outages"] if m["found"])
        lines.append(f"| {r['hours']:g} | {r['requests']:,} | {r['log_mib']} | {r['judge']['seconds']} | "
                     f"{r['judge']['peak_mib']} | {r['report']['seconds']} | {r['report']['peak_mib']} | "
                     f"{r['page_mib']} | {r['finder']['seconds']} / {r['finder']['peak_mib']} | "
                     f"{found} of {len(r['outages'])} | {'yes' if same else 'NO'} |")
    lines += ["", "Goals (#36): peak under 300 MiB for 24 hours and a few MiB more per hour; judge and report "
              "a 24-hour run in under 60 s, a one-hour run in under 5 s; the page at most 1.5 MB.", "", BEFORE, ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0])
    parser.add_argument("--rate", type=float, default=220.0, help="synthetic requests a second")
    parser.add_argument("--keep", type=Path, help="build the run folders here and keep them")
    parser.add_argument("--no-write", action="store_true", help="print, do not write benchmarks/results")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="devsim-long-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        alone = work / "alone"
        shutil.copytree(BASE, alone)
        _, base = judged(alone)
        assert base is not None, "the recorded run could not be judged"
        result: dict[str, Any] = {
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "base_verdict": {"status": base["status"], "claims": [[c["name"], c["outcome"], c["measured"]]
                                                                  for c in base["claims"]]},
            "lengths": []}
        for hours in args.hours:
            print(f"{hours:g} h at {args.rate:g}/s ...", flush=True)
            result["lengths"].append(one_length(hours, args.rate, work))
            print(json.dumps(result["lengths"][-1], indent=1), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    page = render(result)
    print(page)
    if not args.no_write:
        (RESULTS / "long_runs.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "long_runs.md").write_text(page)


if __name__ == "__main__":
    main()
