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
    done = _run("ruff", "check", "harness", "tests", "loadtests", "benchmarks", "target-stack", "scripts")
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


REQUEST_CALLS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request", "Session"})


def _raw_requests(path: Path) -> list[str]:
    """Calls such as `requests.get(...)` or `requests.Session()`: a request outside the one
    session that verifies the stack's CA (and ignores REQUESTS_CA_BUNDLE), and reads of that
    variable."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "requests" \
                and node.func.attr in REQUEST_CALLS:
            found.append(f"requests.{node.func.attr}() at line {node.lineno}")
        elif isinstance(node, ast.Constant) and node.value == "REQUESTS_CA_BUNDLE":
            found.append(f"REQUESTS_CA_BUNDLE at line {node.lineno}")
    return found


def test_only_the_http_module_makes_requests() -> None:
    """Trust is carried by harness/http.py's session, never by a process-wide variable that
    some commands set and others do not (issue #27: `devsim run` on a stack already up)."""
    home = PROJECT_ROOT / "harness" / "http.py"
    outside = {str(p.relative_to(PROJECT_ROOT)): uses for p in (PROJECT_ROOT / "harness").rglob("*.py")
               if p != home and (uses := _raw_requests(p))}
    assert outside == {}
    assert _raw_requests(home) == ["requests.Session() at line " + str(
        next(i for i, line in enumerate(home.read_text().splitlines(), 1) if "requests.Session()" in line))]
