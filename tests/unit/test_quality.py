"""The codebase stays ruff- and mypy-clean (run as tests so the one test command checks it)."""

from __future__ import annotations

import subprocess
import sys

from harness.config import PROJECT_ROOT


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          check=False, timeout=600)


def test_ruff_is_clean() -> None:
    done = _run("ruff", "check", "harness", "tests", "loadtests", "benchmarks", "target-stack")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_is_clean() -> None:
    done = _run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr


def test_modules_stay_small() -> None:
    big = {p.name: n for p in (PROJECT_ROOT / "harness").rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 400}
    assert not big, f"modules over 400 lines: {big}"
