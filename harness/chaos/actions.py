"""Faults for Chaos Toolkit experiments, each with the action that undoes it.

| fault                         | undone by                  |
|-------------------------------|----------------------------|
| kill_tasks                    | wait_until_converged       |
| pause_service                 | unpause_service            |
| stop_service                  | restore_service            |
| restart_service               | wait_until_converged       |
| roll_service (image/env)      | roll_service (back)        |
| deploy_release (guarded)      | roll_service (back)        |
| add_network_fault / partition | remove_network_fault       |
| set_proxy_latency             | set_proxy_latency(0)       |
| stress_cpu                    | stop_cpu_stress            |

Every undo is idempotent and safe to call when the fault was never injected, so a run that
died halfway can still be undone, and `restore_everything` undoes all kinds at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration
from docker.errors import APIError

from harness.chaos import swarm
from harness.deploy import rollout
from harness.deploy.guard import GuardPolicy
from harness.errors import HarnessError

logger = logging.getLogger("chaostoolkit")
SCALED_FROM = "devsim.chaos.replicas"
STRESS_PID_FILE = "/tmp/devsim-cpu-stress.pid"


def kill_tasks(service: str, count: int = 1, signal: str = "SIGKILL", configuration: Configuration = None) -> list[str]:
    """Kills `count` running task containers of a service with `signal`; Swarm replaces them."""
    t = swarm.target(configuration)
    victims = swarm.pick(swarm.containers(t, service), count)
    for container in victims:
        try:
            container.kill(signal=signal)
        except APIError as exc:
            raise ActivityFailed(f"cannot kill {container.name}: {exc.explanation}") from exc
    return [c.name for c in victims]


def pause_service(service: str, count: int = 0, configuration: Configuration = None) -> list[str]:
    """Freezes `count` (0: all) task containers of a service (SIGSTOP through the cgroup freezer)."""
    t = swarm.target(configuration)
    running = swarm.containers(t, service)
    victims = running if count == 0 else swarm.pick(running, count)
    for container in victims:
        container.pause()
    return [c.name for c in victims]


def unpause_service(service: str, configuration: Configuration = None) -> list[str]:
    t = swarm.target(configuration)
    resumed = []
    for container in swarm.containers(t, service, running_only=False):
        container.reload()
        if container.attrs["State"].get("Paused"):
            container.unpause()
            resumed.append(container.name)
    return resumed


def _replicas(svc: Any) -> int:
    return int(svc.attrs["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 1))


def stop_service(service: str, configuration: Configuration = None) -> int:
    """Scales a service to 0, remembering its replicas in a service label; returns them."""
    t = swarm.target(configuration)
    svc = swarm.service(t, service)
    before = _replicas(svc)
    if before == 0:
        return int(svc.attrs["Spec"].get("Labels", {}).get(SCALED_FROM, 0))
    swarm.cli("docker", "service", "update", "--detach", "--label-add", f"{SCALED_FROM}={before}",
              "--replicas", "0", svc.name)
    return before


def restore_service(service: str, timeout: float = 90, configuration: Configuration = None) -> int:
    """Scales a stopped service back to the replicas it had; waits until they run."""
    t = swarm.target(configuration)
    svc = swarm.service(t, service)
    saved = svc.attrs["Spec"].get("Labels", {}).get(SCALED_FROM)
    if saved is not None:
        swarm.cli("docker", "service", "update", "--detach", "--label-rm", SCALED_FROM, "--replicas", saved, svc.name)
    return wait_until_converged(service, timeout, configuration)


def restart_service(service: str, configuration: Configuration = None) -> str:
    """A rolling restart of every task, with the service's own update policy."""
    t = swarm.target(configuration)
    svc = swarm.service(t, service)
    swarm.cli("docker", "service", "update", "--detach", "--force", svc.name)
    return str(svc.name)


def wait_until_converged(service: str, timeout: float = 90, configuration: Configuration = None) -> int:
    """Waits until the service runs as many tasks as it wants; returns that number."""
    t = swarm.target(configuration)
    deadline = time.monotonic() + timeout
    while True:
        svc = swarm.service(t, service)
        want = _replicas(svc)
        running = sum(1 for task in svc.tasks(filters={"desired-state": "running"})
                      if task["Status"]["State"] == "running")
        if running == want:
            return want
        if time.monotonic() > deadline:
            raise ActivityFailed(f"{service}: {running}/{want} tasks running after {timeout:g} s")
        time.sleep(0.5)


def deploy_release(service: str, version: str, guard: bool | str = True, max_error_ratio: float = 0.05,
                   max_p95_s: float = 1.0, watch_after_s: float = 20.0, timeout: float = 300,
                   configuration: Configuration = None) -> dict[str, Any]:
    """`devsim deploy` as an action: the guarded rolling update, Swarm's rollback and the guard's.

    Returns the deploy's result (outcome live, rolled-back or paused; restored_s; reason) for
    claims to read with `field:`. A guard given as the string "false" is off (for --var).
    """
    t = swarm.target(configuration)
    enabled = guard if isinstance(guard, bool) else str(guard).lower() not in ("false", "0", "no", "off")
    policy = GuardPolicy(max_error_ratio=float(max_error_ratio), max_p95_s=float(max_p95_s),
                         watch_after_s=float(watch_after_s)) if enabled else None
    try:
        result = rollout.deploy(t.stack, t.prometheus_url, version, policy, on_step=_log, service=service,
                                timeout=float(timeout), client=swarm.docker())
    except HarnessError as exc:
        raise ActivityFailed(exc.one_line()) from exc
    return result.as_dict()


def _log(message: str) -> None:
    logger.info(message.strip())


def image_for(stack: str, service: str, version: str) -> str:
    """The content tag of a built release, e.g. devsim/app:v2 -> devsim/app:v2-<id>."""
    try:
        return rollout.release_image(swarm.docker(), stack, service, version)
    except HarnessError as exc:
        raise ActivityFailed(exc.one_line()) from exc


def roll_service(service: str, version: str = "", image: str = "", env: dict[str, str] | None = None,
                 timeout: float = 240, configuration: Configuration = None) -> str:
    """A Swarm rolling update to another release (or image, or environment), waited for.

    Returns Swarm's final update state: completed, or rollback_completed when the
    service's own failure action rolled it back.
    """
    t = swarm.target(configuration)
    svc = swarm.service(t, service)
    argv = ["docker", "service", "update", "--detach"]
    if version:
        image = image_for(t.stack, service, version)
    if image:
        argv += ["--image", image]
    for key, value in (env or {}).items():
        argv += ["--env-add", f"{key}={value}"]
    if len(argv) == 4:
        raise ActivityFailed("roll_service needs a version, an image or env")
    current = svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
    if image and image == current and not env:
        return "unchanged"  # Swarm would not start an update; nothing to wait for
    before = svc.attrs.get("UpdateStatus", {}).get("StartedAt")
    swarm.cli(*argv, svc.name)
    deadline = time.monotonic() + timeout
    while True:
        svc.reload()
        status = svc.attrs.get("UpdateStatus", {})
        state = status.get("State", "")
        if status.get("StartedAt") != before and state in ("completed", "rollback_completed", "paused",
                                                           "rollback_paused"):
            return str(state)
        if status.get("StartedAt") is None and svc.attrs["Spec"] == svc.attrs.get("PreviousSpec"):
            return "completed"
        if time.monotonic() > deadline:
            raise ActivityFailed(f"rolling update of {service} not finished after {timeout:g} s (state {state!r})")
        time.sleep(1)


CHAIN = "DEVSIM-CHAOS"


def _iptables(pid: int, *args: str) -> str:
    return swarm.cli("nsenter", "-t", str(pid), "-n", "iptables", "-w", "5", *args)


def add_network_fault(service: str, delay_ms: float = 0, jitter_ms: float = 0, loss_pct: float = 0,
                      inbound: bool = False, configuration: Configuration = None) -> list[str]:
    """Latency, jitter and loss on what every task container of a service sends (and, with
    `inbound`, receives: a dropped outgoing ACK does not stop data landing in a buffer).

    Loss: an iptables chain in each container's network namespace (entered from the host,
    so images need no tools), dropping that share of packets except on loopback.
    Latency: the stack's latency proxy in front of the service (see set_proxy_latency; this
    kernel has no netem). Returns what was changed.
    """
    if delay_ms < 0 or jitter_ms < 0 or not 0 <= loss_pct <= 100:
        raise ActivityFailed("delay and jitter must be >= 0 and loss between 0 and 100")
    t = swarm.target(configuration)
    changed: list[str] = []
    if delay_ms or jitter_ms:
        changed += set_proxy_latency(service, delay_ms, jitter_ms, configuration)
    if loss_pct:
        for container in swarm.containers(t, service):
            pid = swarm.pid_of(container)
            _clear_chain(pid)
            _iptables(pid, "-N", CHAIN)
            rule = ["-j", "DROP"] if loss_pct >= 100 else \
                ["-m", "statistic", "--mode", "random", "--probability", f"{loss_pct / 100:.4f}", "-j", "DROP"]
            _iptables(pid, "-A", CHAIN, "!", "-o", "lo", *rule)
            _iptables(pid, "-I", "OUTPUT", "1", "-j", CHAIN)
            if inbound:
                _iptables(pid, "-I", "INPUT", "1", "!", "-i", "lo", "-j", CHAIN)
            changed.append(f"{container.name}: drop {loss_pct:g}%" + (" both ways" if inbound else ""))
    return changed


def _clear_chain(pid: int) -> bool:
    if f"-N {CHAIN}" not in _iptables(pid, "-S"):
        return False
    while f"-j {CHAIN}" in _iptables(pid, "-S", "OUTPUT"):
        _iptables(pid, "-D", "OUTPUT", "-j", CHAIN)
    while f"-j {CHAIN}" in _iptables(pid, "-S", "INPUT"):
        _iptables(pid, "-D", "INPUT", "!", "-i", "lo", "-j", CHAIN)
    _iptables(pid, "-F", CHAIN)
    _iptables(pid, "-X", CHAIN)
    return True


def partition_service(service: str, configuration: Configuration = None) -> list[str]:
    """Cuts a service off its networks: every packet it sends (but to itself) is dropped."""
    return add_network_fault(service, loss_pct=100, configuration=configuration)


def remove_network_fault(service: str, configuration: Configuration = None) -> list[str]:
    t = swarm.target(configuration)
    cleared = []
    for container in swarm.containers(t, service):
        if _clear_chain(swarm.pid_of(container)):
            cleared.append(f"{container.name}: loss removed")
    cleared += set_proxy_latency(service, 0, 0, configuration, missing_ok=True)
    return cleared


def set_proxy_latency(service: str, delay_ms: float, jitter_ms: float = 0, configuration: Configuration = None,
                      missing_ok: bool = False) -> list[str]:
    """Sets the delay of the latency proxy that fronts `service` (service `<service>proxy`), or
    of the proxy itself when `service` is one (dbproxy, in front of the database router).

    This kernel has no netem, so latency comes from a proxy that is always in the data path
    and adds nothing until told to (the Toxiproxy pattern). The delay is written into the
    proxy's control file with `docker exec`; no traffic leaves the host for it.
    """
    t = swarm.target(configuration)
    try:
        proxies = swarm.containers(t, service if service.endswith("proxy") else f"{service}proxy")
    except ActivityFailed:
        if missing_ok:
            return []
        raise ActivityFailed(f"no latency proxy in front of {service!r} (service {service}proxy) "
                             "and no netem in this kernel") from None
    changed = []
    for proxy in proxies:
        code, out = proxy.exec_run(["sh", "-c", "f=/run/devsim-proxy/latency; old=$(cat $f 2>/dev/null || echo 0); "
                                   f"echo {float(delay_ms):g} {float(jitter_ms):g} > $f && echo $old"])
        if code != 0:
            raise ActivityFailed(f"cannot set the latency of {proxy.name}: {out.decode(errors='replace')}")
        if missing_ok and not _nonzero(out.decode(errors="replace")):
            continue  # an undo with nothing to undo says nothing (the safety net lists what it undid)
        changed.append(f"{proxy.name}: {delay_ms:g} ms +/- {jitter_ms:g} ms")
    return changed


def _nonzero(setting: str) -> bool:
    try:
        return any(float(v) != 0 for v in setting.split())
    except ValueError:
        return True


def stress_cpu(service: str, seconds: int = 30, workers: int = 1, count: int = 1,
               configuration: Configuration = None) -> list[str]:
    """Busy loops inside `count` task containers for at most `seconds` (bounded even if never undone)."""
    t = swarm.target(configuration)
    victims = swarm.pick(swarm.containers(t, service), count)
    loop = f"timeout {int(seconds)} sh -c 'while :; do :; done'"
    # \$\$ reaches the inner shell unexpanded: the pid of the session leader whose group is killed.
    script = f"echo \\$\\$ > {STRESS_PID_FILE}; " + " & ".join([loop] * workers) + "; wait"
    for container in victims:
        container.exec_run(["sh", "-c", f"setsid sh -c \"{script}\" >/dev/null 2>&1 &"], detach=True)
    return [c.name for c in victims]


def stop_cpu_stress(service: str, configuration: Configuration = None) -> list[str]:
    t = swarm.target(configuration)
    stopped = []
    for container in swarm.containers(t, service):
        code, _ = container.exec_run(["sh", "-c", f"[ -f {STRESS_PID_FILE} ] || exit 3; "
                                      f"kill -- -$(cat {STRESS_PID_FILE}); rm -f {STRESS_PID_FILE}"])
        if code == 0:
            stopped.append(container.name)
    return stopped


def restore_everything(services: list[str], configuration: Configuration = None) -> list[str]:
    """The safety net run after every experiment: undo every kind of fault on every service."""
    done = []
    for name in services:
        for undo in (unpause_service, remove_network_fault, stop_cpu_stress):
            try:
                if undo(name, configuration=configuration):
                    done.append(f"{undo.__name__}({name})")
            except ActivityFailed:
                continue
        try:
            svc = swarm.service(swarm.target(configuration), name)
        except ActivityFailed:
            continue
        if SCALED_FROM in svc.attrs["Spec"].get("Labels", {}):
            restore_service(name, configuration=configuration)
            done.append(f"restore_service({name})")
    return done
