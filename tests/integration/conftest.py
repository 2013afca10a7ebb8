"""One real stack per test session, booted through the real `devsim` CLI."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from harness.config import PROJECT_ROOT, Settings, load_settings


def lock_file(stack: str) -> Path:
    """One integration session per stack at a time (the suite's two lanes use two stacks)."""
    return Path(f"/tmp/devsim-integration-tests.{stack}.lock")


def devsim(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Runs the real CLI in a child process, as a user would."""
    full_env = user_env()  # the suite's own trust for its own requests must not make the CLI trust
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def bearer(settings: Settings) -> dict[str, str]:
    """An Authorization header with a new token of the load's OAuth2 client, as the running
    stack's secret names it: writes and /api/report need one."""
    import requests

    from harness.driver import driver_for
    from harness.target import secrets

    client_id, secret = secrets.parse_client(secrets.read(driver_for(settings.stack), "oauth_clients"), "loadtest")
    answer = requests.post(f"{settings.lb_url}/api/auth/token", timeout=5, data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"


def judged_again(run_dir: Path) -> dict[str, object]:
    """`devsim judge` on a run's folder, offline (nothing of the stack is read): the verdict the
    run recorded, claim for claim, and the same exit."""
    recorded = json.loads((run_dir / "verdict.json").read_text())
    done = devsim("judge", "--json", str(run_dir), timeout=120)
    found = json.loads(done.stdout)
    assert found["differences"] == [], found["differences"]
    assert found["same"]
    assert (found["status"], found["reason"]) == (recorded["status"], recorded["reason"])
    assert done.returncode == {"passed": 0, "failed": 1, "aborted": 1, "error": 2}[recorded["status"]], explain(done)
    return recorded  # type: ignore[no-any-return]


# Users' journeys (test_journeys.py, and the deploy journey in test_deploy.py): the installed
# script, from the project folder, one step at a time.
DEVSIM = Path(sys.executable).parent / "devsim"
EXPERIMENTS = PROJECT_ROOT / "experiments"
SECOND = "experiments/db-latency.yaml"


def user_env() -> dict[str, str]:
    """The environment a user's shell would have: nothing the suite set for its own requests."""
    return {k: v for k, v in os.environ.items() if k != "REQUESTS_CA_BUNDLE"}


def step(*args: str, code: int, line: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """One command as the user types it, from the project folder (the Quick start's paths are
    relative to it); `line` is a regular expression the outcome line must match in full: the
    first `devsim: error:` line for an error, otherwise a line of stdout."""
    done = subprocess.run([str(DEVSIM), *args], cwd=PROJECT_ROOT, env=user_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == code, f"devsim {' '.join(args)}: " + explain(done)
    errors = [e for e in done.stderr.splitlines() if e.startswith("devsim: error:")]
    if code == 2:
        assert len(errors) == 1, f"devsim {' '.join(args)}: " + explain(done)
        assert re.fullmatch(line, errors[0]), f"devsim {' '.join(args)}: {errors[0]!r} !~ {line!r}"
    else:
        assert not errors, explain(done)
        assert any(re.fullmatch(line, out) for out in done.stdout.splitlines()), \
            f"devsim {' '.join(args)}: no stdout line matches {line!r}\n" + explain(done)
    return done


def passed(path: str) -> str:
    return rf"PASSED: {re.escape(Path(path).name)}: all \d+ claims held"


def switches_in_the_stack() -> dict[str, str]:
    """The switches that differ from the shipped defaults, as `devsim status` reads them back
    from the running services and Patroni."""
    done = devsim("status", "--json")
    assert done.returncode == 0, explain(done)
    return json.loads(done.stdout)["switches_changed"]  # type: ignore[no-any-return]


# Where whole modules run: after every other production test, test_teardown.py takes the
# stack down (file order alone put test_token_renewal.py after it); the development
# profile's tests replace the production stack. Users' journeys (test_journeys.py) say
# their own stage with `@pytest.mark.journey(N)`, to reuse the state these leave. The
# calibration stays first, on a fresh stack: run after the chaos and security modules (stage
# 1), the stack answered at a 100 ms median instead of 16 ms and every outage came out 65 to
# 270 ms long; its lock holds the other lane through this lane's `devsim up` (about 3 min).
# test_autoscaling.py after the other production modules of lane 0 (its spike has the
# machine to itself; the calibration stays the lane's first test, on a fresh stack)
MODULE_STAGES = {"test_autoscaling.py": 1, "test_teardown.py": 2, "test_development_profile.py": 4}


def stage(item: pytest.Item) -> int:
    marker = item.get_closest_marker("journey")
    return int(marker.args[0]) if marker else MODULE_STAGES.get(item.path.name, 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=stage)  # stable: file order within a stage


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(os.environ)


@pytest.fixture(scope="session")
def machine_lock(settings: Settings) -> Iterator[None]:
    """One integration session per stack at a time: two would share the stack's name and
    ports and undo each other's faults (a second CI run once found the app already rolled to
    v2 by the first). The lock goes with the process, however it ends."""
    lock = lock_file(settings.stack)
    with lock.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"\nwaiting for another integration test session to finish ({lock})", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def stack(settings: Settings, machine_lock: None) -> Iterator[Settings]:
    """The session's stack, from nothing: a stack of this name an earlier session left (one
    cut off at its time limit left its database cluster stuck in a restore, and the next
    session's `up` could not bring it back) is removed with its volumes first, and this
    session's is removed at its end, also when its `up` failed."""
    try:
        devsim("down", "--volumes", "--yes")
        done = devsim("up")
        assert done.returncode == 0, explain(done)
        # The tests' own requests go to the edge over HTTPS, trusting the stack's CA alone,
        # as the harness does (`up` wrote it).
        os.environ["REQUESTS_CA_BUNDLE"] = str(settings.ca_file)
        yield settings
    finally:
        # test_teardown checks `down` itself; this makes sure nothing stays up if it did not run.
        devsim("down", "--volumes", "--yes")


@pytest.fixture(scope="session")
def another_stack(settings: Settings, machine_lock: None) -> Iterator[str]:
    """Objects of a second stack on the same engine (its own label, names that start like
    ours), as a used machine or a CI runner shared by two jobs has them: what counts this
    stack's objects must not count them, and nothing done to this stack may touch them. The
    suite made them, so it removes them at its end."""
    other = f"{settings.stack}-other"
    client = docker.from_env()
    labels = {"devsim.stack": other}
    flt = {"label": f"devsim.stack={other}"}  # an interrupted earlier session's, if any
    for kind in (client.volumes, client.networks, client.configs):
        for leftover in kind.list(filters=flt):
            leftover.remove()
    made = [client.volumes.create(f"{other}_db-data", labels=labels),
            client.networks.create(f"{other}_backend", labels=labels, driver="overlay", attachable=True),
            client.configs.create(name=f"{other}_tls_ca", data=b"not a CA", labels=labels)]
    yield other
    for obj in made:
        obj.remove()


def objects_of(stack: str) -> dict[str, set[str]]:
    """The names of the Docker objects carrying `stack`'s label, by kind."""
    client = docker.from_env()
    flt = {"label": f"devsim.stack={stack}"}
    return {"services": {s.name for s in client.services.list(filters=flt)},
            "containers": {c.name for c in client.containers.list(all=True, filters=flt, sparse=True)},
            "networks": {n.name for n in client.networks.list(filters=flt)},
            "volumes": {v.name for v in client.volumes.list(filters=flt)},
            "secrets": {s.name for s in client.secrets.list(filters=flt)},
            "configs": {c.name for c in client.configs.list(filters=flt)}}


# The switches the last test left set; the next test that does not set its own puts them
# back first. A test that sets switches (marker `sets_switches`) needs no plain `up` before
# it: `devsim up --set ...` sets every switch it does not name back to its shipped value.
_SWITCHED: list[str] = []

# Why the lane's stack could not be put back as shipped, once a plain `up` failed. Every
# later test that needs it fails at once with that reason: a stack left broken (a database
# node that never started again) once cost each of the lane's last ten tests a 5-minute `up`
# that failed the same way, and the suite its time limit.
_BROKEN: list[str] = []


def shipped() -> None:
    """A plain `devsim up`: every switch at its shipped value (read back from the running
    stack), the shipped release serving."""
    if _BROKEN:
        pytest.fail(f"the stack was not put back as shipped before an earlier test, so not for this one:\n{_BROKEN[0]}")
    done = devsim("up")
    if done.returncode != 0:
        _BROKEN.append(f"devsim up: {explain(done)}")
    assert done.returncode == 0, explain(done)
    assert switches_in_the_stack() == {}
    _SWITCHED.clear()


def found_as_shipped() -> None:
    """Reads every switch back at its shipped value (a test's own `up` put them back): the
    next test has nothing to put back."""
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
