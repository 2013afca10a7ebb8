"""CPU stress inside a service's tasks, bounded in time even if never undone."""

from __future__ import annotations

from chaoslib.types import Configuration

from harness.chaos import engine
from harness.chaos.engine import activity

STRESS_PID_FILE = "/tmp/devsim-cpu-stress.pid"


@activity
def stress_cpu(service: str, seconds: int = 30, workers: int = 1, count: int = 1,
               configuration: Configuration = None) -> list[str]:
    """Busy loops inside `count` task containers for at most `seconds`."""
    driver = engine.driver(configuration)
    victims = engine.pick(driver.containers(service), count)
    loop = f"timeout {int(seconds)} sh -c 'while :; do :; done'"
    # \$\$ reaches the inner shell unexpanded: the pid of the session leader whose group is killed.
    script = f"echo \\$\\$ > {STRESS_PID_FILE}; " + " & ".join([loop] * workers) + "; wait"
    for container in victims:
        driver.exec(container, ["sh", "-c", f"setsid sh -c \"{script}\" >/dev/null 2>&1 &"], detach=True)
    return [c.name for c in victims]


@activity
def stop_cpu_stress(service: str, configuration: Configuration = None) -> list[str]:
    driver = engine.driver(configuration)
    stopped = []
    for container in driver.containers(service):
        code, _ = driver.exec(container, ["sh", "-c", f"[ -f {STRESS_PID_FILE} ] || exit 3; "
                                          f"kill -- -$(cat {STRESS_PID_FILE}); rm -f {STRESS_PID_FILE}"])
        if code == 0:
            stopped.append(container.name)
    return stopped
