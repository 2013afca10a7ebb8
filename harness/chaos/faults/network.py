"""Network faults: packet loss (iptables in a task's network namespace), latency (the stack's
latency proxy; this kernel has no netem) and partitions."""

from __future__ import annotations

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from harness.chaos import engine, registry
from harness.chaos.engine import activity
from harness.driver import ContainerInfo, StackDriver
from harness.errors import NoSuchService

CHAIN = "DEVSIM-CHAOS"


def _iptables(driver: StackDriver, container: ContainerInfo, *args: str) -> str:
    return driver.in_netns(container, ["iptables", "-w", "5", *args])


@registry.fault(undo="remove_network_fault", net=True)
@activity
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
    driver = engine.driver(configuration)
    changed: list[str] = []
    if delay_ms or jitter_ms:
        changed += set_proxy_latency(service, delay_ms, jitter_ms, configuration)
    if loss_pct:
        for container in driver.containers(service):
            _clear_chain(driver, container)
            _iptables(driver, container, "-N", CHAIN)
            rule = ["-j", "DROP"] if loss_pct >= 100 else \
                ["-m", "statistic", "--mode", "random", "--probability", f"{loss_pct / 100:.4f}", "-j", "DROP"]
            _iptables(driver, container, "-A", CHAIN, "!", "-o", "lo", *rule)
            _iptables(driver, container, "-I", "OUTPUT", "1", "-j", CHAIN)
            if inbound:
                _iptables(driver, container, "-I", "INPUT", "1", "!", "-i", "lo", "-j", CHAIN)
            changed.append(f"{container.name}: drop {loss_pct:g}%" + (" both ways" if inbound else ""))
    return changed


def _clear_chain(driver: StackDriver, container: ContainerInfo) -> bool:
    if f"-N {CHAIN}" not in _iptables(driver, container, "-S"):
        return False
    while f"-j {CHAIN}" in _iptables(driver, container, "-S", "OUTPUT"):
        _iptables(driver, container, "-D", "OUTPUT", "-j", CHAIN)
    while f"-j {CHAIN}" in _iptables(driver, container, "-S", "INPUT"):
        _iptables(driver, container, "-D", "INPUT", "!", "-i", "lo", "-j", CHAIN)
    _iptables(driver, container, "-F", CHAIN)
    _iptables(driver, container, "-X", CHAIN)
    return True


@registry.fault(undo="remove_network_fault", net=True)
@activity
def partition_service(service: str, configuration: Configuration = None) -> list[str]:
    """Cuts a service off its networks: every packet it sends (but to itself) is dropped."""
    return add_network_fault(service, loss_pct=100, configuration=configuration)


@registry.undo
@activity
def remove_network_fault(service: str, configuration: Configuration = None) -> list[str]:
    driver = engine.driver(configuration)
    cleared = [f"{container.name}: loss removed" for container in driver.containers(service)
               if _clear_chain(driver, container)]
    cleared += set_proxy_latency(service, 0, 0, configuration, missing_ok=True)
    return cleared


@registry.fault(undo="remove_network_fault", net=True)
@activity
def set_proxy_latency(service: str, delay_ms: float, jitter_ms: float = 0, configuration: Configuration = None,
                      missing_ok: bool = False) -> list[str]:
    """Sets the delay of the latency proxy that fronts `service` (service `<service>proxy`), or
    of the proxy itself when `service` is one (dbproxy, in front of the database router).

    This kernel has no netem, so latency comes from a proxy that is always in the data path
    and adds nothing until told to (the Toxiproxy pattern). The delay is written into the
    proxy's control file inside its container; no traffic leaves the host for it.
    """
    driver = engine.driver(configuration)
    try:
        proxies = driver.containers(service if service.endswith("proxy") else f"{service}proxy")
    except NoSuchService:
        if missing_ok:
            return []
        raise ActivityFailed(f"no latency proxy in front of {service!r} (service {service}proxy) "
                             "and no netem in this kernel") from None
    changed = []
    for proxy in proxies:
        code, out = driver.exec(proxy, ["sh", "-c", "f=/run/devsim-proxy/latency; old=$(cat $f 2>/dev/null || echo 0); "
                                        f"echo {float(delay_ms):g} {float(jitter_ms):g} > $f && echo $old"])
        if code != 0:
            raise ActivityFailed(f"cannot set the latency of {proxy.name}: {out}")
        if missing_ok and not _nonzero(out):
            continue  # an undo with nothing to undo says nothing (the safety net lists what it undid)
        changed.append(f"{proxy.name}: {delay_ms:g} ms +/- {jitter_ms:g} ms")
    return changed


def _nonzero(setting: str) -> bool:
    try:
        return any(float(v) != 0 for v in setting.split())
    except ValueError:
        return True
