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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_teardown.py runs after every other test that uses the production stack (it takes
    the stack down; file order alone put test_token_renewal.py after it), and the development
    profile's tests run last: the profile replaces the production stack."""
    items.sort(key=lambda item: (item.path.name == "test_development_profile.py",
                                 item.path.name == "test_teardown.py"))


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
    # The tests' own requests go to the edge over HTTPS, trusting the stack's CA alone, as
    # the harness does (`up` wrote it).
    os.environ["REQUESTS_CA_BUNDLE"] = str(settings.ca_file)
    yield settings
    # test_teardown checks `down` itself; this makes sure nothing stays up if it did not run.
    devsim("down", "--volumes")


# The switches the last test left set; the next test that does not set its own puts them
# back first. A test that sets switches (marker `sets_switches`) needs no plain `up` before
# it: `devsim up --set ...` sets every switch it does not name back to its shipped value.
_SWITCHED: list[str] = []


def shipped() -> None:
    """A plain `devsim up`: every switch at its shipped value (read back from the running
    stack), the shipped release serving."""
    done = devsim("up")
    assert done.returncode == 0, explain(done)
    assert switches_in_the_stack() == {}
    _SWITCHED.clear()


def set_switches(*pairs: str) -> None:
    """`devsim up --set` each KEY=VALUE, then reads them back from the running stack: a
    negative control is only worth something if its switch really took effect."""
    done = devsim("up", *[arg for pair in pairs for arg in ("--set", pair)])
    _SWITCHED[:] = list(pairs)
    assert done.returncode == 0, explain(done)
    assert switches_in_the_stack() == dict(pair.split("=", 1) for pair in pairs)


@pytest.fixture(autouse=True)
def no_switch_left_set(request: pytest.FixtureRequest) -> None:
    """Before each test: switches an earlier test left set are put back, unless this test
    sets its own."""
    if _SWITCHED and request.node.get_closest_marker("sets_switches") is None:
        shipped()


@pytest.fixture
def as_shipped(stack: Settings) -> Settings:
    """The stack as shipped before the test: a plain `devsim up`, which also puts back the
    release or the replicas an earlier experiment may have left."""
    shipped()
    return stack


@pytest.fixture
def stack_copy(tmp_path: Path, settings: Settings) -> Path:
    """A copy of target-stack/ that a test may break."""
    dest = tmp_path / "target-stack"
    subprocess.run(["cp", "-a", str(settings.stack_dir), str(dest)], check=True)
    return dest
