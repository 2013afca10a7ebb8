"""Benchmark: what the stack costs at rest, and what the experiments' detection times are.

With the stack up and nothing else running, samples the kernel's CPU accounting twice,
`--seconds` apart (60 by default) after `--settle` seconds: each container's cgroup
(`cpuacct.usage`, cgroup v1, or `cpu.stat` under v2), summed per service, and the whole
machine's busy time from /proc/stat. The difference between the machine and the containers
is the engine's side (dockerd, containerd, the shims and every `runc exec` of a health
check) plus anything else running. What else runs is measured too, from /proc: every live
process that is neither the engine's nor in a container (the machine's own agent, kernel
threads, this script), its children included. The stack's figure is the machine's minus
that: the containers plus the engine, with any CPU no live process accounts for charged to
the stack. Figures are in % of the machine (2 cores = 200 % of one); the goal is a stack at
rest of at most 10 %.

With `--detection`, it then runs the experiments whose figures a quieter stack could make
worse (app crash recovery, alert latency, database failover) and records their measured
claims next to the idle figure.

Results go to benchmarks/results/idle.{json,md} under `--label` (e.g. before / after), so
that two configurations can be compared in one file.

    .venv/bin/python benchmarks/idle.py --label after [--seconds 60] [--detection]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.driver import driver_for  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CGROUP = Path("/sys/fs/cgroup")
DETECTION = ("app-instance-crash", "alert-on-outage", "db-primary-failover")


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return (total - idle) / ticks, total / ticks


def container_cpu_s(container_id: str) -> float | None:
    """CPU seconds the container's cgroup has used, or None when it has gone."""
    v1 = CGROUP / "cpuacct" / "docker" / container_id / "cpuacct.usage"
    if v1.exists():
        return int(v1.read_text()) / 1e9
    for v2 in (CGROUP / "system.slice" / f"docker-{container_id}.scope" / "cpu.stat",
               CGROUP / "docker" / container_id / "cpu.stat"):
        if v2.exists():
            usage = dict(line.split() for line in v2.read_text().splitlines())
            return int(usage["usage_usec"]) / 1e6
    return None


ENGINE = ("dockerd", "containerd", "runc", "docker-proxy", "docker-init")  # name prefixes ("containerd-shim...")


def outside_stack_s() -> float:
    """CPU seconds used by live processes outside the stack (neither the engine nor in a
    container), with the children each has reaped."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cgroup = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue  # gone meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        if name.startswith(ENGINE) or "docker" in cgroup:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        used += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return used / ticks


def stack_containers(stack: str) -> dict[str, str]:
    """{container id: service} for every running task of the stack."""
    driver = driver_for(stack)
    found = {}
    for service in driver.services():
        for container in driver.containers(service.name):
            found[container.id] = service.name
    if not found:
        sys.exit(f"the stack {stack!r} is not up: run `devsim up` first")
    return found


def sample_idle(stack: str, seconds: float) -> dict[str, Any]:
    containers = stack_containers(stack)
    before = {cid: container_cpu_s(cid) for cid in containers}
    busy0, total0 = machine_busy_s()
    other0 = outside_stack_s()
    time.sleep(seconds)
    other1 = outside_stack_s()
    busy1, total1 = machine_busy_s()
    cores = os.cpu_count() or 1
    wall = (total1 - total0) / cores
    per_service: dict[str, float] = {}
    for cid, service in containers.items():
        start, end = before[cid], container_cpu_s(cid)
        if start is None or end is None:
            continue  # replaced while sampling: counted on the engine's side
        per_service[service] = per_service.get(service, 0.0) + (end - start)
    machine_pct = 100 * (busy1 - busy0) / (wall * cores)
    containers_pct = 100 * sum(per_service.values()) / (wall * cores)
    other_pct = 100 * (other1 - other0) / (wall * cores)
    return {
        "seconds": round(wall, 1), "cores": cores,
        "machine_pct": round(machine_pct, 1),
        "stack_pct": round(machine_pct - other_pct, 1),
        "containers_pct": round(containers_pct, 1),
        "engine_pct": round(machine_pct - other_pct - containers_pct, 1),
        "outside_stack_pct": round(other_pct, 1),
        "engine_and_other_pct": round(machine_pct - containers_pct, 1),
        "per_service_pct_of_one_core": {s: round(100 * v / wall, 2)
                                        for s, v in sorted(per_service.items(), key=lambda kv: -kv[1])},
    }


def detection() -> dict[str, Any]:
    """Each experiment's measured claims (name: value), run with `devsim run --no-up`."""
    found: dict[str, Any] = {}
    for name in DETECTION:
        started = time.time()
        done = subprocess.run([sys.executable, "-m", "harness.cli", "--quiet", "run", "--no-up",
                               str(ROOT / "experiments" / f"{name}.yaml")], cwd=ROOT, capture_output=True,
                              text=True, check=False)
        verdicts = sorted((p for p in (ROOT / "reports").glob("*/verdict.json") if p.stat().st_mtime >= started),
                          key=lambda p: p.stat().st_mtime)
        if not verdicts:
            found[name] = {"exit": done.returncode, "error": done.stderr.strip()[-300:]}
            continue
        verdict = json.loads(verdicts[-1].read_text())
        found[name] = {"exit": done.returncode, "status": verdict["status"],
                       "claims": {c["name"]: c.get("measured") for c in verdict.get("claims", [])}}
    return found


def write(label: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "idle.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored[label] = result
    path.write_text(json.dumps(stored, indent=2) + "\n")
    lines = ["# Idle stack: CPU at rest, and the detection times next to it", "",
             "Written by `benchmarks/idle.py`. % of the machine: 100 % = every core busy.", ""]
    for name, run in stored.items():
        idle = run["idle"]
        lines += [f"## {name} ({run['when']}, {run['machine']})", ""]
        if "stack_pct" in idle:
            lines += [f"- **the stack at rest: {idle['stack_pct']} %** of the machine (goal: at most 10 %): "
                      f"its containers {idle['containers_pct']} %, the engine {idle['engine_pct']} %; "
                      f"outside the stack {idle['outside_stack_pct']} %"]
        lines += [f"- whole machine busy: **{idle['machine_pct']} %** over {idle['seconds']} s "
                  f"({idle['cores']} cores)",
                  f"- the stack's containers: {idle['containers_pct']} %; the engine and the rest: "
                  f"{idle['engine_and_other_pct']} %", "", "| service | % of one core |", "|---|---|"]
        lines += [f"| {s} | {v} |" for s, v in idle["per_service_pct_of_one_core"].items()]
        for experiment, figures in (run.get("detection") or {}).items():
            lines += ["", f"{experiment}: {figures.get('status', 'error')}", ""]
            for claim, value in (figures.get("claims") or {}).items():
                lines.append(f"- {claim}: {value}")
        lines += [f"\n{note}" for note in run.get("notes", [])]
        lines.append("")
    (RESULTS / "idle.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="current", help="name of this configuration in the results")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds to wait before sampling")
    parser.add_argument("--stack", default=os.environ.get("DEVSIM_STACK", "devsim"))
    parser.add_argument("--detection", action="store_true", help="also run the detection experiments")
    parser.add_argument("--note", action="append", default=[], help="add a note to this label (with --render)")
    parser.add_argument("--render", action="store_true", help="only add the notes and rewrite idle.md")
    args = parser.parse_args()
    if args.render:
        stored = json.loads((RESULTS / "idle.json").read_text())
        if args.label not in stored:
            sys.exit(f"no label {args.label!r} in idle.json: {', '.join(stored)}")
        stored[args.label].setdefault("notes", []).extend(args.note)
        write(args.label, stored[args.label])
        return
    time.sleep(args.settle)
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "machine": f"{os.cpu_count()} cores, {platform.platform()}",
                              "idle": sample_idle(args.stack, args.seconds)}
    print(json.dumps(result["idle"], indent=2))
    if args.detection:
        result["detection"] = detection()
        print(json.dumps(result["detection"], indent=2))
    write(args.label, result)


if __name__ == "__main__":
    main()
