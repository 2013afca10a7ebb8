"""Destructive commands ask first: on a terminal they list what will go and wait for "yes";
without one (a script, CI) they need `--yes`, and without it they remove nothing."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from harness.errors import UsageError


def confirm(action: str, what: Callable[[], Sequence[str]], yes: bool, *, stdin: TextIO | None = None,
            stderr: TextIO | None = None) -> None:
    """Returns when the user agreed (or gave --yes); raises UsageError otherwise, before anything
    was touched. `what` lists what will go; it is asked only on a terminal."""
    if yes:
        return
    stdin, stderr = stdin or sys.stdin, stderr or sys.stderr
    if not stdin.isatty():
        raise UsageError(f"{action}: there is no terminal to ask on; pass --yes to confirm (nothing was removed)")
    lines = list(what())
    print(f"{action} will delete:", file=stderr)
    for line in lines:
        print(f"  - {line}", file=stderr)
    print("Type yes to go on: ", end="", file=stderr, flush=True)
    answer = stdin.readline().strip().lower()
    if answer != "yes":
        raise UsageError(f"{action}: not confirmed (nothing was removed)")
