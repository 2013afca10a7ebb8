"""The commands that need no stack: `devsim validate FILE...` (harness/experiment/validate.py)
and `devsim judge RUN_DIR` (a run judged again from its folder: harness/experiment/rejudge.py).
They do the work; this prints it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness.context import RunContext
from harness.errors import HarnessError
from harness.experiment import power
from harness.experiment.rejudge import rejudge
from harness.experiment.validate import load as load_experiment_file
from harness.experiment.validate import problems
from harness.stack import switches
from harness.stack.services import declared_services

EXIT_OK, EXIT_ERROR = 0, 2


def add_parsers(sub: Any) -> None:
    check = sub.add_parser("validate", help="validate experiment files (Chaos Toolkit's checks and ours)")
    check.add_argument("experiments", nargs="+", type=Path, metavar="FILE")
    judge = sub.add_parser("judge", help="judge a run again from its folder alone (offline), and compare",
                           description="Replays what the run recorded (journal, request log, write audit, "
                           "Prometheus's answers) through the judge, without Docker or Prometheus. Exit: the "
                           "verdict's (0 passed, 1 failed or aborted, 2 error), or 2 when it differs from the "
                           "recorded one.")
    judge.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    judge.add_argument("--json", action="store_true", help="the verdict judged again and the differences, as JSON")


def validate(ctx: RunContext, args: argparse.Namespace) -> int:
    services = declared_services(ctx.settings.stack_dir)
    declared = switches.load(ctx.settings.stack_dir)
    found: list[str] = []
    loaded: list[tuple[Path, dict[str, Any]]] = []
    for path in args.experiments:
        try:
            loaded.append((path, load_experiment_file(path)))
            found += problems(path, loaded[-1][1], services, declared)
        except HarnessError as exc:
            found.append(exc.one_line())
    for line in found:
        print(f"devsim: invalid: {line}", file=sys.stderr)
    if found:
        return EXIT_ERROR
    for path, experiment in loaded:  # what `--prove` can show: the claims a control makes fail
        print("\n".join(f"{path}: {line}" for line in power.coverage(experiment).lines()))
    print(f"{len(args.experiments)} experiment file(s) valid")
    return EXIT_OK


def judge(ctx: RunContext, args: argparse.Namespace) -> int:
    found = rejudge(args.run_dir)
    v = found.verdict
    if args.json:
        print(json.dumps({"run_id": v.run_id, "status": v.status, "reason": v.reason, "same": not found.differences,
                          "differences": list(found.differences), "claims": [c.as_dict() for c in v.claims]},
                         indent=2, default=str))
    else:
        print(f"{v.status.upper()}: {Path(v.file).name}: {v.reason}")
        for line in found.differences:
            ctx.progress.warn(line)
        if not found.differences:
            print(f"judged again from {args.run_dir}: the verdict recorded, claim for claim")
    if found.differences:
        raise HarnessError(f"judged again, {len(found.differences)} difference(s) from the recorded verdict "
                           f"(first: {found.differences[0]})")
    return v.exit_code


COMMANDS = {"validate": validate, "judge": judge}
