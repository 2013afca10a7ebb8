"""One real stack per test session, booted through the real `devsim` CLI."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.config import Settings, load_settings

LOCK_FILE = Path("/tmp/devsim-integration-tests.lock")


def devsim(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Runs the real CLI in a child process, as a user would."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"


def switches_in_the_stack() -> dict[str, str]:
    """The switches that differ from the shipped defaults, as `devsim status` reads them back
    from the running services and Patroni."""
    done = devsim("status", "--json")
    assert done.returncode == 0, explain(done)
    return json.loads(done.stdout)["switches_changed"]  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(os.environ)


@pytest.fixture(scope="session")
def machine_lock() -> Iterator[None]:
    """One integration session per machine at a time: two would share the stack's name and
    ports and undo each other's faults (a second CI run once found the app already rolled to
    v2 by the first). The lock goes with the process, however it ends."""
    with LOCK_FILE.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"\nwaiting for another integration test session to finish ({LOCK_FILE})", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def stack(settings: Settings, machine_lock: None) -> Iterator[Settings]:
    done = devsim("up")
    assert done.returncode == 0, explain(done)
    yield settings
    # test_teardown checks `down` itself; this makes sure nothing stays up if it did not run.
    devsim("down", "--volumes")


@pytest.fixture
def as_shipped(stack: Settings) -> Iterator[Settings]:
    """The stack with every safety mechanism on (`devsim up` without switches), before and
    after the test, so that a test's switches never leak into the next one."""
    done = devsim("up")
    assert done.returncode == 0, explain(done)
    yield stack
    done = devsim("up")
    assert done.returncode == 0, explain(done)


@pytest.fixture
def stack_copy(tmp_path: Path, settings: Settings) -> Path:
    """A copy of target-stack/ that a test may break."""
    dest = tmp_path / "target-stack"
    subprocess.run(["cp", "-a", str(settings.stack_dir), str(dest)], check=True)
    return dest
