"""Benchmark: the mutation score of the judge (mutmut over the verdict, SLO and request-log code).

Plants small bugs (a `<` for a `<=`, a dropped `not`, a changed constant or string) in
harness/verdict/, harness/chaos/claims.py, harness/load/slo.py and harness/load/clientlog.py, one at a time, and runs
the fast tests against each: a mutant the tests notice is killed, one they do not survives.
Runs in a scratch copy of the tracked files (mutmut writes a `mutants/` folder next to the
code), with mutmut installed into .venv on first use. Writes
benchmarks/results/mutation.{json,md}: the score and every surviving mutant's diff, with the
reasons recorded in SURVIVOR_REASONS for those that are equivalent (no test could tell).

    .venv/bin/python benchmarks/mutation.py [--max-children 2]
    .venv/bin/python benchmarks/mutation.py --keep DIR --recheck tests/unit/test_x.py ...

`--recheck` runs each survivor of a kept run against the named test files (as they are now,
the way mutmut runs a mutant: MUTANT_UNDER_TEST in the kept mutants/ tree) and counts it killed
when a test fails. Only the named files run, so it can only under-count kills.

About 18 minutes on the 2-core machine with two children; not part of CI.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = ["harness/verdict/*", "harness/load/slo.py", "harness/load/clientlog.py", "harness/chaos/evidence.py",
           "harness/experiment/power.py", "harness/experiment/abort.py", "harness/chaos/probes.py",
           "harness/chaos/claims.py",
           "harness/chaos/window.py", "harness/chaos/writes.py", "harness/target/audit.py",
           "harness/metrics/steps.py", "harness/metrics/recorded.py", "harness/experiment/rejudge.py"]
CONFIG = f"""
[tool.mutmut]
source_paths = ["harness"]
only_mutate = {json.dumps(TARGETS)}
also_copy = ["target-stack", "experiments", "loadtests", "harness"]
pytest_add_cli_args_test_selection = ["tests/unit/"]
pytest_add_cli_args = ["-n", "0", "-p", "no:cacheprovider", "-q", "--deselect", "tests/unit/test_quality.py",
                       "--deselect", "tests/unit/test_docs.py"]
"""
# Mutants no test can kill, by the pattern of their diff, with the reason they are equivalent.
SURVIVOR_REASONS: list[tuple[str, str]] = [
    (r"'XX, XX'\.join\(FIGURES\)", "FIGURES holds one name, so the separator never shows."),
    (r"within_tolerance\(tolerance, value, configuration=configuration, \)",
     "chaoslib's within_tolerance takes secrets=None by default: the same call."),
    (r"\+    run_end = ", "a dead store: run_end is always set together with run_start, before it is read."),
    (r'\(exception_lines or \["XXXX"\]\)', "an empty traceback and this placeholder both read as a plain error."),
    (r'complete\.decode\((errors="replace"|"UTF-8", errors="replace")\)',
     "UTF-8 is bytes.decode's default encoding, and codec names are case-insensitive."),
    (r'lambda: Check\(ready_replicas\(service, configuration\) < replicas, (None|"XXXX")\)|'
     r'== 200, (None|"XXXX")\)',
     "a Check's status line is only shown through Waiter's on_status, which seconds_until_ready does not pass."),
    (r'io\.StringIO\(f"\{self\._header\}\\n\{text\}", (newline=None)?\)',
     "the request log's lines end in \\n and no field holds a \\r: universal newlines change nothing the csv "
     "reader sees."),
    (r"if self\._rows else 1(?!\d)",
     "with no rows the kept-span filter runs over an empty list: any `newest` keeps none."),
    (r"self\._thread\.join\(timeout=(None|11)\)",
     "the watch's loop ends within one interval once `done` is set; the bound only matters for a measurement that "
     "hangs, which no test can make without waiting the 10 s out."),
    (r'_json\(files\.journal, (None|"XXthe run has no journalXX"|"THE RUN HAS NO JOURNAL")\)',
     "the journal is read only when it is a file, so the message for a missing one cannot show (but in a race "
     "with its deletion)."),
    (r"claimlib\.fault_window\(journal\) if \(journal\) or True",
     "the fault window of an empty journal is None, as the else branch gives."),
    (r"client_rows\(window, None, configuration, min_requests\)",
     "client_rows reads a missing name (None) as the empty one: every request, and no name in the message."),
    (r"\+    self\.path = None$",
     "a dead store: nothing read Replay.path (the attribute was removed after this run)."),
    (r'experiment\.get\(("configuration"\) and|None\) or|"XXconfigurationXX"\) or|"CONFIGURATION"\) or) \{\}\)',
     "judging again, a claim's probe reads only the request log and the recorded answers, which rejudge sets "
     "itself: validation admits no probe that reads another configuration key (RECORDED_PROBES)."),
    (r"claims=tuple\(found\), \)$",
     "a recorded run's controls are replaced by power.assess when it had any, and are () when it had none."),
    (r'top: Any = ("XXXX"|"")$',
     "top is compared only when it is a number: None and a string both fall through to no evidence."),
    (r"json\.dumps\(value, (default=None)?\)$",
     "a claim's measured value is a probe's number or string or a journal's JSON: json.dumps never calls default."),
    (r"stored\.get\(i, 1\) > 1",
     "an id the table does not hold gives 1 > 1 here and 0 > 1 in the code: both false."),
    (r"if sent else 1\.0$",
     "with no write sent the audit classifies no id: reading the rows since 1970-01-01T00:00:01 instead of :00 "
     "changes nothing."),
    (r"key=None\),$|max\(\(p for p, _ in found\), \),$",
     "the powers' alphabetical order (shown < unproven < vacuous) is their rank order."),
    (r'_http\("/api/auth/token", "post"',
     "requests upper-cases the method (Request(method=method.upper())): the server sees POST either way."),
    (r"lo < r\.end_ms <= hi|lo <= r\.end_ms < hi",
     "an acknowledgement exactly on a window edge adds a gap of zero next to the edge: the longest gap is "
     "the same."),
]


def mutmut(workdir: Path, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "mutmut"
    return subprocess.run([str(exe), *args], cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          check=False)


def ensure_mutmut() -> None:
    if not (Path(sys.executable).parent / "mutmut").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "mutmut"], check=True)


def scratch_copy(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    with (dest / "pyproject.toml").open("a") as fh:
        fh.write(CONFIG)


def _functions(path: Path) -> dict[str, str]:
    """Each function of a mutated module by name, its source text."""
    text = path.read_text()
    found = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = ast.get_source_segment(text, node) or ""
    return found


def _tokens(source: str) -> list[tuple[int, str]]:
    return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)]


def kinds(workdir: Path) -> dict[str, str]:
    """Each mutant's kind: "message" when it changes only string literals (a message, a key of
    a record), else "semantic"."""
    found: dict[str, str] = {}
    for path in (workdir / "mutants").rglob("*.py"):
        module = ".".join(path.relative_to(workdir / "mutants").with_suffix("").parts)
        functions = _functions(path)
        for name, source in functions.items():
            base, sep, number = name.rpartition("__mutmut_")
            if not sep or not number.isdigit() or f"{base}__mutmut_orig" not in functions:
                continue
            before = _tokens(functions[f"{base}__mutmut_orig"].replace(f"{base}__mutmut_orig", name, 1))
            after = _tokens(source)
            changed = [(a, b) for a, b in zip(before, after, strict=False) if a != b]
            only_strings = len(before) == len(after) and changed and all(
                a[0] == b[0] == tokenize.STRING for a, b in changed)
            found[f"{module}.{name}"] = "message" if only_strings else "semantic"
    return found


def survivors(workdir: Path) -> list[dict[str, str]]:
    listed = mutmut(workdir, "results").stdout.splitlines()
    found = []
    for line in listed:
        name, _, status = line.strip().partition(": ")
        if not name or status == "killed":
            continue
        diff = mutmut(workdir, "show", name).stdout
        changed = "\n".join(d for d in diff.splitlines() if re.match(r"^[-+](?![-+]{2} )", d))
        reason = next((why for pattern, why in SURVIVOR_REASONS if re.search(pattern, changed)), "")
        found.append({"mutant": name, "status": status, "diff": changed, "equivalent_because": reason})
    return found


def recheck(workdir: Path, test_files: list[Path], names: str = "") -> list[str]:
    """Runs every survivor against `test_files` (copied into the kept tree first); a mutant
    whose tests fail (pytest's exit 1, not an error of collection) is recorded killed in
    mutmut's own results; only the survivors whose names match the regular expression `names`,
    when one is given. Returns the names killed."""
    tests = workdir / "mutants" / "tests"
    shutil.rmtree(tests, ignore_errors=True)
    shutil.copytree(ROOT / "tests", tests)
    files = [rel.resolve().relative_to(ROOT).as_posix() for rel in test_files]
    killed = []
    for meta in (workdir / "mutants").rglob("*.meta"):
        data = json.loads(meta.read_text())
        for mutant, code in data["exit_code_by_key"].items():
            if code != 0 or (names and not re.search(names, mutant)):
                continue
            done = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-x", "-q", "-p", "no:cacheprovider",
                                   *files], cwd=workdir / "mutants", env={**os.environ, "MUTANT_UNDER_TEST": mutant},
                                  capture_output=True, text=True, check=False, timeout=600)
            if done.returncode == 1:
                data["exit_code_by_key"][mutant] = 1
                killed.append(mutant)
        meta.write_text(json.dumps(data))
    return killed


def _last_rechecked() -> list[str]:
    try:
        return list(json.loads((RESULTS / "mutation.json").read_text()).get("rechecked_killed", []))
    except (OSError, ValueError, AttributeError):
        return []


def _last_seconds() -> float | None:
    """The full run's duration, for results written again from its kept folder."""
    try:
        return float(json.loads((RESULTS / "mutation.json").read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="work in DIR (emptied first) and keep it: the survivors can then be run again "
                        "alone after tests were added (`mutmut run NAME...` in DIR, with the tests copied in)")
    parser.add_argument("--no-run", action="store_true",
                        help="with --keep: write the results of the kept DIR again, without running mutmut")
    parser.add_argument("--recheck", nargs="+", type=Path, metavar="TEST_FILE", default=[],
                        help="with --keep (implies --no-run): run the kept run's survivors against these test files "
                        "and count those they kill")
    parser.add_argument("--mutants", default="", metavar="REGEX",
                        help="with --recheck: only the survivors whose names match")
    args = parser.parse_args()
    args.no_run = args.no_run or bool(args.recheck)
    if args.no_run and not args.keep:
        parser.error("--no-run and --recheck need --keep DIR")
    ensure_mutmut()
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = args.keep.resolve()
            if not args.no_run:
                shutil.rmtree(workdir, ignore_errors=True)
                workdir.mkdir(parents=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="devsim-mutation-")))
        rechecked = recheck(workdir, args.recheck, args.mutants) if args.recheck else []
        if not args.no_run:
            scratch_copy(workdir)
            done = mutmut(workdir, "run", "--max-children", str(args.max_children))
            if done.returncode != 0:
                sys.exit(f"mutmut run failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        mutmut(workdir, "export-cicd-stats")
        stats = json.loads((workdir / "mutants" / "mutmut-cicd-stats.json").read_text())
        left = survivors(workdir)
        kind = kinds(workdir)
        statuses = dict(line.strip().partition(": ")[::2] for line in mutmut(workdir, "results", "--all",
                                                                              "true").stdout.splitlines())
    total = int(stats["total"])
    killed = int(stats["killed"])
    by_kind = {k: {"total": sum(1 for m, v in kind.items() if v == k),
                   "killed": sum(1 for m, v in kind.items() if v == k and statuses.get(m) == "killed")}
               for k in ("semantic", "message")}
    for s in left:
        s["kind"] = kind.get(s["mutant"], "?")
    equivalent = sum(1 for s in left if s["equivalent_because"])
    for k, v in by_kind.items():  # an equivalent mutant is no test's to kill: left out of the adjusted score
        v["equivalent"] = sum(1 for s in left if s["equivalent_because"] and s["kind"] == k)
    result = {
        "machine": platform.node(), "python": platform.python_version(), "mutmut_targets": TARGETS,
        "seconds": round(time.monotonic() - started, 1) if not args.no_run else _last_seconds(), "stats": stats,
        "score": round(killed / total, 4) if total else None, "equivalent": equivalent,
        "score_without_equivalent": round(killed / (total - equivalent), 4) if total > equivalent else None,
        "by_kind": by_kind, "survivors": left,
        "rechecked_killed": sorted(set(rechecked) | set(_last_rechecked() if args.no_run else [])),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mutation.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Mutation score of the judge", "",
        f"mutmut over `{'`, `'.join(TARGETS)}` with the fast tests (`tests/unit/`; ruff, mypy and the docs build "
        "left out), "
        f"{time.strftime('%Y-%m-%d')}, {result['seconds'] or 0:.0f} s"
        + (" (the full run; these results were written again from its kept folder, with the reasons of "
           "equivalent mutants added since)." if args.no_run else ".")
        + (f" {len(result['rechecked_killed'])} of the full run's survivors were run again against the tests "
           "written after it (`--recheck`) and killed." if result["rechecked_killed"] else ""),
        "",
        "| mutants | killed | survived | of them equivalent | no tests | timeout | suspicious | score | score "
        "without the equivalent |", "|---|---|---|---|---|---|---|---|---|",
        f"| {total} | {killed} | {stats.get('survived', 0)} | {equivalent} | {stats.get('no_tests', 0)} | "
        f"{stats.get('timeout', 0)} | {stats.get('suspicious', 0)} | {killed / total:.1%} | "
        f"{killed / (total - equivalent):.1%} |" if total > equivalent else "| 0 | | | | | | | | |", "",
        "| kind | mutants | killed | equivalent | score | score without the equivalent |", "|---|---|---|---|---|---|",
        *(f"| {k} ({'changes only string literals' if k == 'message' else 'changes code'}) | {v['total']} | "
          f"{v['killed']} | {v['equivalent']} | {v['killed'] / v['total']:.1%} | "
          f"{v['killed'] / (v['total'] - v['equivalent']):.1%} |"
          for k, v in by_kind.items() if v["total"] > v["equivalent"]), "",
        "## Surviving mutants", "",
        "Each with the reason no test can tell it from the code, where it is equivalent; those without one are "
        "missing tests.", "",
    ]
    for s in left:
        lines += [f"### `{s['mutant']}` ({s['status']}, {s['kind']})", "",
                  s["equivalent_because"] or "no reason recorded", "", "```diff", s["diff"], "```", ""]
    (RESULTS / "mutation.md").write_text("\n".join(lines))
    print(f"score {killed}/{total} = {killed / total:.1%}; {len(left)} survivors; {RESULTS / 'mutation.md'}")


if __name__ == "__main__":
    main()
