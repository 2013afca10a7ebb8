"""CPU stress inside a service's tasks, bounded in time even if never undone."""

from __future__ import annotations

from chaoslib.types import Configuration

from harness.chaos import engine, registry
from harness.chaos.engine import activity

STRESS_PID_FILE = "/tmp/devsim-cpu-stress.pid"
# A service label saying its tasks may run a stress: the undo, which the safety net runs on
# every service after every run, looks inside the containers (an exec each, 2 s for the stack)
# only where it is set. A label on the service, not its tasks: setting it restarts nothing.
STRESSED = "devsim.cpu-stressed"


@registry.fault(undo="stop_cpu_stress", net=True)
@activity
def stress_cpu(service: str, seconds: int = 30, workers: int = 1, count: int = 1,
               configuration: Configuration = None) -> list[str]:
    """Busy loops inside `count` task containers for at most `seconds`."""
    driver = engine.driver(configuration)
    victims = engine.pick(driver.containers(service), count)
    driver.update(service, add_labels={STRESSED: "1"})  # before the stress: the undo must find it
    for container in victims:
        driver.exec(container, start_argv(seconds, workers), detach=True)
    return [c.name for c in victims]


def start_argv(seconds: int, workers: int, pid_file: str = STRESS_PID_FILE) -> list[str]:
    """A command that starts `workers` busy loops, each ended after `seconds`, in a new
    session whose leader's pid goes to `pid_file`. `timeout --foreground` keeps each loop in
    that session's process group (plain `timeout` makes a group of its own, which the stop's
    `kill -- -PGID` missed: the loops ran on until their timeout)."""
    loop = f"timeout --foreground {int(seconds)} sh -c 'while :; do :; done'"
    # \$\$ reaches the inner shell unexpanded: the pid of the session leader whose group is killed.
    script = f"echo \\$\\$ > {pid_file}; " + " & ".join([loop] * workers) + "; wait"
    return ["sh", "-c", f"setsid sh -c \"{script}\" >/dev/null 2>&1 &"]


def stop_argv(pid_file: str = STRESS_PID_FILE) -> list[str]:
    """Ends the stress `start_argv` began (exit 3 when there is none)."""
    return ["sh", "-c", f"[ -f {pid_file} ] || exit 3; kill -- -$(cat {pid_file}); rm -f {pid_file}"]


@registry.undo
@activity
def stop_cpu_stress(service: str, configuration: Configuration = None) -> list[str]:
    driver = engine.driver(configuration)
    if STRESSED not in driver.service(service).labels:
        return []
    stopped = []
    for container in driver.containers(service):
        code, _ = driver.exec(container, stop_argv())
        if code == 0:
            stopped.append(container.name)
    driver.update(service, remove_labels=[STRESSED])
    return stopped
