"""A Locust child does not outlive a harness killed without the chance to stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARENT = """
import subprocess, sys, time
from harness.load.runner import load_child
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True,
                         preexec_fn=load_child)
print(child.pid, flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"  # a zombie is dead, only not reaped
    except FileNotFoundError:
        return False


def test_the_child_ends_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_pass_through_options_come_last_and_a_locust_conf_first(tmp_path: Path) -> None:
    from harness.load.runner import LoadPlan, locust_argv

    conf = tmp_path / "locust.conf"
    plan = LoadPlan(locustfile=tmp_path / "lf.py", host="http://127.0.0.1:8080", users=2, spawn_rate=2, run_time=5,
                    run_dir=tmp_path, run_id="r", workers=1, extra=("--tags", "write"), config=conf)
    for role in ("local", "master", "worker"):
        argv = locust_argv(plan, role, 5557)
        assert argv[3:5] == ["--config", str(conf)], role
        assert argv[-2:] == ["--tags", "write"], role


@pytest.mark.parametrize(("given", "named"), [("--users", "--users"), ("-u=3", "-u"), ("-u5", "-u"), ("-t30s", "-t"),
                                              ("--csv=x", "--csv"),
                                              ("--master", "--master"), ("--config", "--config")])
def test_options_the_harness_owns_are_refused(given: str, named: str) -> None:
    from harness.errors import UsageError
    from harness.load.runner import check_extra

    check_extra(["--tags", "write", "--loglevel", "DEBUG"])
    with pytest.raises(UsageError, match=f"Locust option {named} cannot be passed through"):
        check_extra(["--tags", "write", given])
