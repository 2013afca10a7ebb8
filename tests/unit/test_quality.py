"""The codebase stays ruff- and mypy-clean (run as tests so the one test command checks it)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


ENGINE_TOOLS = ("docker", "nsenter")


def _engine_uses(path: Path) -> list[str]:
    """Imports of the Docker SDK, and argv lists that start with an engine tool."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == "docker"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "docker":
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.List) and node.elts and isinstance(node.elts[0], ast.Constant) \
                and node.elts[0].value in ENGINE_TOOLS:
            found.append(f"[{node.elts[0].value!r}, ...] at line {node.lineno}")
    return found


def test_only_the_driver_talks_to_the_engine() -> None:
    driver = PROJECT_ROOT / "harness" / "driver"
    outside = {str(p.relative_to(PROJECT_ROOT)): uses for p in (PROJECT_ROOT / "harness").rglob("*.py")
               if driver not in p.parents and (uses := _engine_uses(p))}
    assert outside == {}
    # the check finds what it looks for: the driver itself does all three
    inside = [use for p in driver.rglob("*.py") for use in _engine_uses(p)]
    assert any(u.startswith("import docker") for u in inside)
    assert any(u.startswith("['docker'") for u in inside)
    assert any(u.startswith("['nsenter'") for u in inside)
