"""`devsim judge RUN_DIR`: a run judged again from its folder (harness/experiment/rejudge.py
does the work; this prints it)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.context import RunContext
from harness.errors import HarnessError
from harness.experiment.rejudge import rejudge


def add_parsers(sub: Any) -> None:
    judge = sub.add_parser("judge", help="judge a run again from its folder alone (offline), and compare",
                           description="Replays what the run recorded (journal, request log, write audit, "
                           "Prometheus's answers) through the judge, without Docker or Prometheus. Exit: the "
                           "verdict's (0 passed, 1 failed or aborted, 2 error), or 2 when it differs from the "
                           "recorded one.")
    judge.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    judge.add_argument("--json", action="store_true", help="the verdict judged again and the differences, as JSON")


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


COMMANDS = {"judge": judge}
