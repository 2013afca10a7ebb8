"""The one way the harness runs an external command: an argv list, never a shell string."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence

from harness.errors import CommandFailed, EngineUnavailable

SETUP_HINT = "run `bash scripts/setup.sh` as root to install and start it"


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs one command; raises CommandFailed (argv, exit code, stdout and stderr kept whole)."""
    if shutil.which(argv[0]) is None:
        raise EngineUnavailable(f"`{argv[0]}` is not installed", hint=SETUP_HINT)
    try:
        done = subprocess.run(
            list(argv), env=dict(env) if env is not None else None, capture_output=True,
            text=True, timeout=timeout, input=input_text, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(argv, -1, "", f"timed out after {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise CommandFailed(argv, done.returncode, done.stdout, done.stderr)
    return done
