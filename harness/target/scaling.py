"""The app's replica count under the autoscaler (docs/stack/autoscaling.md), as `devsim up`
sees it: `docker stack deploy` sets every service's replicas to stack.yml's, so an `up` after
the autoscaler scaled out would scale the app back in under load. With the autoscaler on, up
deploys the app with the count it runs, when that count is one the autoscaler could have
chosen (above the floor, `--replicas`, and at most its maximum)."""

from __future__ import annotations

import json
import time
from typing import Any

from harness.config import Settings
from harness.driver import StackDriver
from harness.errors import NoSuchService, UsageError
from harness.progress import Progress
from harness.stack import switches
from harness.stack.waiting import Check, Waiter

DEPLOY_VARIABLE = "APP_DEPLOY_REPLICAS"  # stack.yml's app replicas; APP_REPLICAS stays the floor


def switch_value(settings: Settings, name: str) -> str:
    """A switch as this `up` deploys it: `--set`, or the stack's default."""
    declared = switches.load(settings.stack_dir)
    return settings.stack_overrides.get(name, declared[name].default if name in declared else "")


def check_bounds(settings: Settings) -> None:
    """Before anything is built or deployed: the floor (`--replicas`) within the autoscaler's
    maximum, which the gate would refuse to start with."""
    maximum = int(switch_value(settings, "AUTOSCALE_MAX") or settings.replicas)
    if settings.replicas > maximum:
        raise UsageError(f"--replicas {settings.replicas} is above the autoscaler's maximum ({maximum}); "
                         f"raise it with --set AUTOSCALE_MAX={settings.replicas} or lower --replicas")


def kept_replicas(driver: StackDriver, settings: Settings, progress: Progress) -> dict[str, str]:
    """{APP_DEPLOY_REPLICAS: N} to keep the app at the N replicas the autoscaler runs it at;
    {} (stack.yml's floor) when the autoscaler is off, the app is not running, or N is not
    a count the autoscaler could have set."""
    if switch_value(settings, "AUTOSCALER") != "on":
        return {}
    try:
        running = driver.service("app").replicas
    except NoSuchService:
        return {}
    maximum = int(switch_value(settings, "AUTOSCALE_MAX") or settings.replicas)
    if not settings.replicas < running <= maximum:
        return {}
    progress.step(f"keeping app at {running} replicas, the autoscaler's count (its floor is {settings.replicas})")
    return {DEPLOY_VARIABLE: str(running)}


def settle_at_floor(driver: StackDriver, progress: Progress, waiter: Waiter | None = None) -> None:
    """Before an experiment: an app the autoscaler scaled out for earlier load (a `devsim load`,
    an experiment's spike) is waited back to its floor, the count every experiment's steady
    state starts from; its own scale-down, not the harness's, so the count keeps one owner.
    Still above it after the scale-down window and two loops (a load of the user's own runs):
    a warning, and the experiment's steady state judges."""
    try:
        env = driver.service("autoscaler").env
        app = driver.service("app")
    except NoSuchService:
        return
    floor = int(env.get("MIN") or 0)
    if env.get("AUTOSCALER", "on") != "on" or not floor or app.replicas <= floor:
        return
    limit = float(env.get("DOWN_WINDOW_S") or 60) + 2 * float(env.get("LOOP_S") or 15) + 15
    progress.step(f"app at {app.replicas} replicas, above its floor of {floor} after earlier load: waiting up to "
                  f"{limit:g} s for the autoscaler to scale it in")

    def at_floor() -> Check:
        desired = driver.service("app").replicas
        running = sum(1 for t in driver.tasks("app", desired_running=True) if t.running)
        return Check(desired <= floor and running <= floor, f"{desired} wanted, {running} running")

    started = time.monotonic()
    found = (waiter or Waiter(limit, 1.0)).until(at_floor)
    if found is None:
        progress.warn(f"app still above its floor of {floor} after {limit:g} s ({at_floor().status}): "
                      "is a load of your own running?")
    else:
        progress.step(f"app back at its floor of {floor} in {time.monotonic() - started:.0f} s")


def autoscaler_status(driver: StackDriver) -> dict[str, Any] | None:
    """For `devsim status`: the autoscaler's switch and bounds (its service's environment) and
    its last decision (its last JSON log line); None when the stack has no autoscaler."""
    try:
        env = driver.service("autoscaler").env
    except NoSuchService:
        return None
    last: dict[str, Any] | None = None
    for line in reversed(driver.logs("autoscaler", 5)):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "outcome" in entry:
            last = entry
            break
    return {"switch": env.get("AUTOSCALER", "on"), "min": env.get("MIN"), "max": env.get("MAX"),
            "target": env.get("TARGET"), "predictive": env.get("EXPERIMENTAL_MODE", "false") == "true", "last": last}


def describe(status: dict[str, Any]) -> str:
    """One line of `devsim status`."""
    head = (f"{status['switch']}, app {status['min']} to {status['max']} replicas at {status['target']} "
            "requests/s each" + (", predictive (EXPERIMENTAL_MODE)" if status.get("predictive") else ""))
    last = status.get("last")
    if not last:
        return head + "; no decision yet"
    at = time.strftime("%H:%M:%S", time.localtime(float(last.get("at", 0))))
    return f"{head}; last decision at {at}: {last['outcome']} ({last.get('reason', '')})"
