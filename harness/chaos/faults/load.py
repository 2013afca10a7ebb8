"""A spike of users beside the run's own load (issue #33): a second Locust process, its
request log in the run folder's `spike/`, bounded in time by Locust's own `--run-time` so
that it ends even if nothing undoes it. Its pid is in the stack's state folder, where the
undo (and the safety net after every run) finds it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from harness.chaos import engine, registry
from harness.chaos.engine import activity
from harness.load.runner import LoadPlan, LocustProcess
from harness.load.session import DEFAULT_LOCUSTFILE
from harness.stack.waiting import Check, Waiter
from harness.target import secrets

MAX_USERS = 500
MAX_SECONDS = 1800.0
SPIKE_FOLDER = "spike"


def pid_file(configuration: Configuration) -> Path:
    return engine.settings(configuration).state_dir / f"{engine.target(configuration).stack}-load-spike.pid"


def _spike_folder(configuration: Configuration) -> Path:
    """The run's folder, beside its request log; a folder of the state dir in a plain `chaos run`."""
    request_log = engine.target(configuration).request_log
    base = Path(request_log).parent if request_log else engine.settings(configuration).state_dir / "load-spikes"
    folder = base / SPIKE_FOLDER / time.strftime("%Y%m%dT%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@registry.fault(undo="stop_load_spike")
@activity
def spike_load(users: int = 40, seconds: float = 60, spawn_rate: float = 20,
               configuration: Configuration = None) -> str:
    """`users` more users through the load balancer for at most `seconds`, reached at
    `spawn_rate` a second, beside the run's own load. Returns at once."""
    users, seconds, spawn_rate = int(users), float(seconds), float(spawn_rate)
    if not 1 <= users <= MAX_USERS or not 0 < seconds <= MAX_SECONDS or spawn_rate <= 0:
        raise ActivityFailed(f"a spike needs 1 to {MAX_USERS} users, 0 to {MAX_SECONDS:g} s and a spawn rate "
                             f"above 0; got {users} users, {seconds:g} s, {spawn_rate:g}/s")
    target = engine.target(configuration)
    if _alive(pid_file(configuration)):
        raise ActivityFailed("a load spike already runs against this stack (stop_load_spike ends it)")
    folder = _spike_folder(configuration)
    plan = LoadPlan(locustfile=DEFAULT_LOCUSTFILE, host=target.lb_url, users=users, spawn_rate=spawn_rate,
                    run_time=seconds, run_dir=folder, run_id=folder.name,
                    client=secrets.client_secret(engine.driver(configuration)),
                    ca_file=Path(target.ca_file) if target.ca_file else None)
    process = LocustProcess(plan)
    process.start()
    path = pid_file(configuration)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(process.main.pid))
    return f"{users} users for at most {seconds:g} s -> {folder}"


def _alive(path: Path) -> int:
    """The spike's pid when its Locust still runs; 0 otherwise (a stale file, a pid reused)."""
    try:
        pid = int(path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return 0
    return pid if b"locust" in cmdline else 0


@registry.step
@activity
def wait_for_load_spike(timeout: float = 300, configuration: Configuration = None) -> float:
    """Seconds until the spike's Locust ended on its own (its `seconds` over); 0 when none
    runs. Still running after `timeout`: ActivityFailed, and the spike is left to its undo."""
    path = pid_file(configuration)
    started = time.monotonic()
    if Waiter(float(timeout), 0.5).until(lambda: Check(not _alive(path), "")) is None:
        raise ActivityFailed(f"the load spike still runs after {float(timeout):g} s")
    return round(time.monotonic() - started, 1)


@registry.undo
@activity
def stop_load_spike(configuration: Configuration = None) -> str:
    """Ends the spike (Locust's Ctrl-C, so that it writes its reports; SIGKILL after 20 s).
    "" when none runs."""
    path = pid_file(configuration)
    pid = _alive(path)
    if pid:
        os.killpg(pid, signal.SIGINT)  # its own session: Locust and nothing else
        deadline = time.monotonic() + 20
        while _alive(path) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(path):
            os.killpg(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return f"stopped the load spike (pid {pid})" if pid else ""
