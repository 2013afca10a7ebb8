"""Users' journeys: sequences of real `devsim` invocations on the real stack, in the order
users type them, each step asserting its exit code and its one-line outcome.

Every other integration test starts from a state the suite prepared and most pass
`--no-up`; a user starts from whatever the last command left. That is how `devsim run`
shipped failing on every stack that was already up (issue #27). Here each command is the
installed `devsim` script (`.venv/bin/devsim`), with no variable the suite set for itself
(REQUESTS_CA_BUNDLE above all) in its environment.

They reuse the stack the suite already has (conftest orders them by stage, see
`JOURNEY_STAGES`): the Ctrl-C journey runs among the production tests; the Quick start
journey's `down` and `up` are the teardown checks of a plain `down` (the second `up` is the
one test_teardown.py used to do); the `down --volumes` journey follows test_teardown.py's
own `down --volumes` and leaves the stack up for the development profile's tests, whose
fixture then switches a running production stack to development as a user would; the
development journey runs last. The deploy journey is in test_deploy.py, on the release its
rollout test makes live.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time

import docker
import pytest
import requests
import yaml

from harness.config import PROJECT_ROOT, Settings
from harness.driver import driver_for
from harness.target import secrets, tls
from tests.integration.conftest import DEVSIM, SECOND, objects_of, passed, step, user_env

pytestmark = pytest.mark.docker

MAIN_JOB = ("run", "--keep-up", "experiments/app-instance-crash.yaml")  # the README's Quick start
DEV_UP = r"app: +http://127\.0\.0\.1:\d+ \(hot reload from .*\)"



def production_volumes(settings: Settings) -> set[str]:
    """The volumes the production stack declares, by the names Swarm gives them."""
    declared = yaml.safe_load((settings.stack_dir / "stack.yml").read_text())["volumes"]
    return {f"{settings.stack}_{name}" for name in declared}


@pytest.mark.journey(0)
def test_journey_ctrl_c_during_a_fault_then_the_same_run_again(stack: Settings) -> None:
    """Ctrl-C in the terminal while the database latency is in place: the whole foreground
    process group gets SIGINT (the harness, Locust, everything). The run ends with exit 2 and
    one line, the latency is gone; the same command again passes."""
    def terminal() -> None:  # a shell's foreground job: SIGINT at its default, its own group
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen([str(DEVSIM), "run", SECOND], cwd=PROJECT_ROOT, env=user_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=terminal,
                            start_new_session=True)
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if "action 'add-300ms-database-latency' succeeded" in line:
                break
        slow = requests.get(f"{stack.lb_url}/api/items/no-such-item", timeout=5)  # the fault is real...
        assert slow.elapsed.total_seconds() >= 0.3, "".join(seen)
    finally:  # ...and Ctrl-C comes inside the method's 10 s pause (also when the test itself
        with contextlib.suppress(ProcessLookupError):  # failed or was interrupted: the run must
            os.killpg(proc.pid, signal.SIGINT)  # not outlive it, with its fault and its load)
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, "".join(seen) + out + err
    assert re.search(r"^ERROR: db-latency\.yaml: interrupted \(SIGINT\); rollbacks and the safety net ran$", out,
                     re.MULTILINE), out + err
    answers = [requests.get(f"{stack.lb_url}/api/items/no-such-item", timeout=5) for _ in range(3)]
    assert [a.status_code for a in answers] == [404] * 3  # a read the database answers
    assert min(a.elapsed.total_seconds() for a in answers) < 0.25  # the latency is gone (it adds 0.3 s)
    step("run", SECOND, code=0, line=passed(SECOND))


@pytest.mark.journey(1)
def test_journey_quick_start_then_a_second_experiment_load_status_down_up_and_run(stack: Settings,
                                                                                  another_stack: str) -> None:
    """On a used machine (issue #37: the development profile used once and taken down, its
    volumes kept; a second stack's objects on the engine), the README's main job, then what a
    new user types next. `down` keeps what the data needs (volumes, the secrets that protect
    them, the TLS files); `up` after it counts only what runs now (it once waited 292 s for a
    restarted Prometheus's old series to age out) and makes anew a secret removed by hand
    while the stack was down."""
    others = objects_of(another_stack)
    step("up", "--profile", "development", code=0, line=DEV_UP)
    step("down", code=0, line=f"stack {stack.stack!r} removed")
    dev_volumes = objects_of(stack.stack)["volumes"] - production_volumes(stack)
    assert dev_volumes, "the development profile's volumes stay after a plain down"
    step(*MAIN_JOB, code=0, line=passed(MAIN_JOB[-1]))  # nothing up: it boots the stack, and keeps it up
    step("run", SECOND, code=0, line=passed(SECOND))  # the stack is up: no --no-up needed
    step("load", "--users", "5", "--run-time", "10s", code=0, line=r"passed: .*/index\.html")
    step("status", code=0, line="profile: production")

    step("down", code=0, line=f"stack {stack.stack!r} removed")
    left = objects_of(stack.stack)
    assert (left["services"], left["containers"], left["networks"]) == (set(), set(), set())
    assert production_volumes(stack) <= left["volumes"]  # the databases, etcd, Prometheus stay
    # so do the secrets that protect them (the roles' passwords are in the volumes) and the TLS
    # files (the CA and two certificates as configs, the two keys as secrets), by name
    kept = {f"{stack.stack}_secret_{name}" for name in secrets.SECRETS}
    assert kept <= left["secrets"], left["secrets"]
    assert tls.current(driver_for(stack.stack)) is not None  # a whole generation: 3 configs, 2 secrets

    client = docker.from_env()
    old = {s.name: s.id for s in client.secrets.list(filters={"label": stack.label})}
    client.secrets.get(old[f"{stack.stack}_secret_db_password"]).remove()  # by hand, while down
    start = time.monotonic()
    done = step("up", code=0, line=r"app \(load balancer\): https://127\.0\.0\.1:\d+")
    took = time.monotonic() - start
    assert took < 120, f"up after down took {took:.0f} s"
    assert "generating missing secrets: db_password" in done.stderr + done.stdout
    now = {s.name: s.id for s in client.secrets.list(filters={"label": stack.label})}
    assert now[f"{stack.stack}_secret_db_password"] != old[f"{stack.stack}_secret_db_password"]
    assert {n: i for n, i in now.items() if not n.endswith("db_password")} == \
        {n: i for n, i in old.items() if not n.endswith("db_password")}
    step("run", SECOND, code=0, line=passed(SECOND))  # writes need the new password: the app took it
    assert dev_volumes <= objects_of(stack.stack)["volumes"]  # nothing of the other profile touched
    assert objects_of(another_stack) == others  # nor of the other stack


@pytest.mark.journey(3)
def test_journey_down_volumes_then_the_quick_start_again(stack: Settings) -> None:
    """After test_teardown.py's `down --volumes`: the same again (nothing up: said so), then the
    main job from nothing but the built images: it boots the stack, passes, and leaves it up."""
    # in the suite nothing is up here (test_teardown.py's own `down --volumes` ran); alone, the
    # stack the earlier journeys left is
    before = time.time()
    step("down", "--volumes", "--yes", code=0,
         line=rf"stack {stack.stack!r} was not up|stack and volumes {stack.stack!r} removed")
    step(*MAIN_JOB, code=0, line=passed(MAIN_JOB[-1]))
    step("status", code=0, line="profile: production")
    # `down --volumes` kept the offsite repository: it still holds the earlier cluster's backups,
    # and backs the new cluster up as well (its stanza upgraded to the new system identifier)
    deadline = time.monotonic() + 240
    while True:
        done = step("backup", "--list", "--json", code=0, line=r"\[.*")
        offsite = [b for b in json.loads(done.stdout) if b["repo"] == 2]
        kept = [b for b in offsite if b["stopped"] < before]
        new = [b for b in offsite if b["started"] > before and b["type"] == "full"]
        if (kept and new) or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert kept, offsite
    assert new, offsite


@pytest.mark.journey(5)
def test_journey_development_profile_then_a_run_then_up(stack: Settings) -> None:
    """From nothing (the development tests took their profile down): the development profile,
    then an experiment (refused, one line: `run` does not replace a development environment
    behind the user's back), then `devsim up`, which switches to production, and the same run."""
    step("up", "--profile", "development", code=0, line=DEV_UP)
    step("run", SECOND, code=2,
         line=rf"devsim: error: the stack {stack.stack!r} runs its development profile; experiments check the "
              r"production profile's claims \(run `devsim up` to switch to it\)")
    step("status", code=0, line=r"profile: development .*")  # untouched
    step("up", code=0, line=r"app \(load balancer\): https://127\.0\.0\.1:\d+")
    # `up` from nothing (the development tests removed every volume): the database took
    # connections only after the app replicas started; their pools must still fill before
    # traffic needs them, or the run below meets 2.1 s handshakes through the latency
    # (CI saw p95 2143 ms with the pools empty)
    assert pools_warm(stack) == [(10, 10)] * stack.replicas
    step("run", SECOND, code=0, line=passed(SECOND))


def pools_warm(settings: Settings, within_s: float = 20) -> list[tuple[int, int]]:
    """(connections, max) each app replica logged when its database pool was full (or gave up)."""
    client = docker.from_env()
    deadline = time.monotonic() + within_s
    while True:
        found = []
        for container in client.containers.list(
                filters={"label": f"com.docker.swarm.service.name={settings.stack}_app"}):
            lines = [json.loads(line) for line in container.logs().decode().splitlines()
                     if '"database pool warm"' in line]
            if lines:
                found.append((int(lines[-1]["connections"]), int(lines[-1]["max"])))
        if len(found) == settings.replicas or time.monotonic() > deadline:
            return sorted(found)
        time.sleep(1)
