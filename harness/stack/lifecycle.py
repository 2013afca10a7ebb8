"""`up` and `down`: deploy the stack, wait until it serves, and remove every trace of it."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from harness.config import Settings
from harness.driver import StackDriver
from harness.driver.swarm import CLIENT_ENV
from harness.errors import InfrastructureError, NotReady, PortInUse
from harness.http import http_for
from harness.metrics.prometheus import Prometheus
from harness.progress import Progress
from harness.stack import development, images, patroni, secrets, switches, tls
from harness.stack.services import ServiceState, change_image, declared_images, declared_services, stack_status
from harness.stack.waiting import Check, Waiter


@dataclass(frozen=True)
class Deployment:
    """The result of `up`: what runs, and where to reach it."""

    services: tuple[ServiceState, ...]
    lb_url: str
    prometheus_url: str


def check_ports_free(driver: StackDriver, settings: Settings) -> None:
    """Before a first deploy: the published ports must not be held by something else."""
    ours = {s.name for s in stack_status(driver, settings)}
    for service, port, var in (("lb", settings.lb_port, "DEVSIM_LB_PORT"),
                               ("lb", settings.lb_tls_port, "DEVSIM_LB_TLS_PORT"),
                               ("monitoring", settings.prometheus_port, "DEVSIM_PROMETHEUS_PORT"),
                               ("pushgateway", settings.pushgateway_port, "DEVSIM_PUSHGATEWAY_PORT"),
                               ("mailsink", settings.mailsink_port, "DEVSIM_MAILSINK_PORT")):
        if service in ours:
            continue  # our own running service holds it; a redeploy keeps it
        # A stack removed a moment ago may still hold its ports for a second or two.
        if Waiter(5.0, 0.5).until(_port_check(port)) is None:
            raise PortInUse(f"port {port} is already in use on this host", hint=f"free it or set {var}")


def _port_check(port: int) -> Callable[[], Check]:
    return lambda: Check(port_is_free(port), f"port {port}")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As a server would bind it: connections in TIME_WAIT do not make a port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def stack_env(settings: Settings, image_env: dict[str, str]) -> dict[str, str]:
    """The environment for `docker stack deploy`, which fills stack.yml's ${...} values:
    the images, the settings, and every declared switch (its default unless `--set`)."""
    env = {k: v for k, v in os.environ.items() if k in CLIENT_ENV}
    env.update(image_env)
    env.update({
        "DEVSIM_STACK": settings.stack,
        "APP_REPLICAS": str(settings.replicas),
        "LB_PORT": str(settings.lb_port),
        "LB_TLS_PORT": str(settings.lb_tls_port),
        "PROMETHEUS_PORT": str(settings.prometheus_port),
        "PUSHGATEWAY_PORT": str(settings.pushgateway_port),
        "MAILSINK_PORT": str(settings.mailsink_port),
    })
    env.update({name: s.default for name, s in switches.load(settings.stack_dir).items()})
    env.update(settings.stack_overrides)
    return env


def up(driver: StackDriver, settings: Settings, progress: Progress) -> Deployment:
    """Builds, deploys and waits until every service is healthy and monitored."""
    driver.check_engine()
    development.remove(driver, settings, progress)  # the other profile gives its ports back
    check_ports_free(driver, settings)
    fence_ports(driver, settings, progress)
    image_env = images.build_images(driver, settings.stack_dir, progress)
    env = {**stack_env(settings, image_env), **secrets.ensure(driver, progress), **tls.ensure(driver, progress)}
    tls.save_ca(driver, settings)  # the CA file every HTTP session of the harness verifies the edge with
    progress.step(f"deploying stack {settings.stack!r} ({settings.replicas} app replicas)")
    driver.deploy(settings.stack_dir / "stack.yml", {**env, **FAST_ROLLOUT})
    put_back_images(driver, settings, env, progress)
    wait_until_healthy(driver, settings, progress, configure_database=True)
    driver.deploy(settings.stack_dir / "stack.yml", env)  # the update policy stack.yml and the switches say
    wait_until_healthy(driver, settings, progress)
    tls.prune(driver)  # a renewed CA's predecessor, now that nothing uses it
    return Deployment(tuple(stack_status(driver, settings)), settings.lb_url, settings.prometheus_url)


def fence_ports(driver: StackDriver, settings: Settings, progress: Progress) -> None:
    """Before anything is published: the ports answer on loopback only, unless the user
    opted out with DEVSIM_BIND=0.0.0.0 (then an earlier fence goes)."""
    if settings.bind == "127.0.0.1":
        progress.step(f"published ports {', '.join(map(str, settings.published_ports))}: loopback only")
        driver.fence_ports(settings.published_ports)
    else:
        progress.warn(f"DEVSIM_BIND={settings.bind}: the published ports answer on every interface")
        driver.unfence_ports()


# `devsim up` sets the bench up; it is not a release. Its changes (a switch turned, a rebuilt
# image) roll out to every app task at once, start-first, instead of one task per 10 s bake:
# a negative control's switches took about 60 s to roll out and 60 s to put back.
FAST_ROLLOUT = {"APP_UPDATE_PARALLELISM": "0", "APP_UPDATE_DELAY": "0s", "APP_UPDATE_MONITOR": "2s",
                "APP_UPDATE_ORDER": "start-first"}


def put_back_images(driver: StackDriver, settings: Settings, env: dict[str, str], progress: Progress) -> list[str]:
    """Every service back on the image stack.yml names. `docker stack deploy` keeps an image
    that `docker service update --image` set (`devsim deploy v2`, an experiment cut short)
    when stack.yml's own image line has not changed, so without this `up` left v2 serving.
    `change_image` picks the engine's rollback when it can. Returns the services changed."""
    declared = declared_images(settings.stack_dir)
    changed = []
    for service in driver.services():
        wanted = development.fill(declared[service.name], env) if service.name in declared else service.image
        if service.image != wanted:
            progress.step(f"putting {service.name} back on {wanted} (it ran {service.image})")
            change_image(driver, service.name, wanted)
            changed.append(service.name)
    return changed


def up_development(driver: StackDriver, settings: Settings, progress: Progress) -> Deployment:
    """The development profile (target-stack/development.yml) in place of whatever ran."""
    settings = settings.replace(tls=False)  # plain HTTP to the app itself
    if driver.services():
        progress.step("removing the production profile first (its volumes stay)")
        down(driver, settings, progress)
    development.remove(driver, settings, progress)
    check_ports_free(driver, settings)
    if Waiter(5.0, 0.5).until(_port_check(development.INSPECTOR_PORT)) is None:
        raise PortInUse(f"port {development.INSPECTOR_PORT} (the app's inspector) is already in use on this host")
    image_env = images.build_images(driver, settings.stack_dir, progress)
    services = development.load(settings, stack_env(settings, image_env))
    development.start(driver, settings, services, progress)
    prometheus = Prometheus(settings.prometheus_url)

    def scraped() -> bool:
        try:
            return [t.health for t in prometheus.active_targets() if t.job == "app"] == ["up"]
        except InfrastructureError:
            return False

    http = http_for(settings)  # one session for the whole wait, not a new connection setup per poll
    development.wait_until_serving(driver, settings, progress,
                                   lambda: http.status(f"{settings.lb_url}/health") == 200, scraped)
    return Deployment(tuple(development.status(driver, settings)), settings.lb_url, settings.prometheus_url)


def wait_until_healthy(driver: StackDriver, settings: Settings, progress: Progress,
                       configure_database: bool = False) -> None:
    """Every service healthy, the database cluster whole, and the app served and scraped.
    With `configure_database`, Patroni's dynamic configuration is set from the switches."""
    waiter = Waiter(settings.up_timeout, settings.poll_interval)
    expected = declared_services(settings.stack_dir)

    def services_ready() -> Check:
        states = {s.name: s for s in stack_status(driver, settings)}
        waiting = [(f"{n} {states[n].ready}/{states[n].desired}" + (" updating" if states[n].updating else ""))
                   if n in states else f"{n} missing" for n in expected if n not in states or not states[n].healthy]
        return Check(not waiting, "waiting for " + ", ".join(waiting) if waiting else "services ready")

    progress.step("waiting for every service to be healthy")
    if waiter.until(services_ready, progress.update) is None:
        raise _not_ready(driver, settings, expected)

    cluster = _wait_for_database(driver, settings, progress, waiter, configure_database)
    prometheus = Prometheus(settings.prometheus_url)
    app = {s.name: s for s in stack_status(driver, settings)}.get("app")
    replicas = app.desired if app else settings.replicas  # what runs, e.g. after `up --replicas 5`
    http = http_for(settings)  # one session for the whole wait

    def serving() -> Check:
        lb = http.status(f"{settings.lb_url}/health")  # the status, or why there is none
        try:
            targets = prometheus.active_targets()
        except InfrastructureError:
            targets = []
        apps = [t for t in targets if t.job == "app"]
        live = sum(1 for t in apps if t.health == "up")
        lb_up = [t.health for t in targets if t.job == "lb"] == ["up"]
        done = lb == 200 and lb_up and live == replicas and len(apps) == replicas
        status = (f"load balancer /health: {lb}; Prometheus targets up: app "
                  f"{live}/{replicas} ({len(apps)} known), lb {int(lb_up)}/1")
        if cluster is not None:
            scraped = {t.instance for t in targets if t.job == "dbrouter" and t.health == "up"}
            wrong = _router_disagreement(cluster, prometheus, scraped)
            done = done and not wrong
            status += f"; database router: {wrong or 'as Patroni says'}"
        return Check(done, status)

    progress.step("waiting for the load balancer and Prometheus to see every app replica"
                  + (" and the database router to follow Patroni's roles" if cluster else ""))
    last = waiter.until(serving, progress.update)
    if last is None:
        status = serving().status
        raise NotReady(f"the stack did not start serving within {settings.up_timeout:.0f} s: {status}",
                       details=[line for name in ("lb", "app") + (("dbrouter",) if cluster else ())
                                for line in driver.logs(name)])
    progress.done()


def _router_disagreement(cluster: patroni.Cluster, prometheus: Prometheus, scraped: set[str]) -> str:
    """What the database router's health checks (as scraped from its exporter, by one of the
    `scraped` instances Prometheus scrapes now) get wrong against Patroni's roles; "" when
    writes reach the leader and reads every replica."""
    seen = cluster.try_view()
    if seen is None:
        return "Patroni not answering"
    try:
        samples = prometheus.vector('haproxy_server_status{job="dbrouter",state="UP"} == 1')
    except InfrastructureError as exc:
        return exc.one_line()
    if not scraped:
        return "router not scraped yet"
    up: dict[str, set[str]] = {}
    for sample in samples:
        if sample.labels.get("instance") not in scraped:
            continue  # a router that ran before a restart of Prometheus
        up.setdefault(sample.labels.get("proxy", ""), set()).add(sample.labels.get("server", ""))
    return seen.router_disagreement(up)


def _wait_for_database(driver: StackDriver, settings: Settings, progress: Progress, waiter: Waiter,
                       configure: bool) -> patroni.Cluster | None:
    """One Patroni leader, every node running, and a synchronous standby when asked for."""
    members = patroni.member_services(settings.stack_dir)
    if not members:
        return None
    cluster = patroni.Cluster(driver, members)

    def whole() -> Check:
        seen = cluster.try_view()
        if seen is None:
            return Check(False, "database cluster: Patroni not answering yet")
        return Check(seen.healthy(len(members), synchronous), f"database cluster: {seen.summary()}")

    progress.step("waiting for the database cluster (one leader, every node running)")
    if configure:
        wanted = patroni.dynamic_config(settings.stack_overrides)
        if waiter.until(lambda: Check(bool((v := cluster.try_view()) and v.leaders), "database cluster: no leader yet"),
                        progress.update) is None:
            raise NotReady(f"the database cluster elected no leader within {settings.up_timeout:.0f} s",
                           details=driver.logs(members[0]))
        cluster.configure(wanted)
        cluster.sync_roles()  # passwords from the secrets, should one have been made anew
        synchronous = bool(wanted["synchronous_mode"])
    else:  # as configured by the last `devsim up`, whatever this command's switches say
        synchronous = cluster.synchronous()
    if waiter.until(whole, progress.update) is None:
        raise NotReady(f"the database cluster is not whole after {settings.up_timeout:.0f} s: {whole().status}",
                       details=[line for m in members for line in driver.logs(m, lines=5)])
    return cluster




def _not_ready(driver: StackDriver, settings: Settings, expected: tuple[str, ...]) -> NotReady:
    states = {s.name: s for s in stack_status(driver, settings)}
    stuck = most_likely_cause(expected, states)
    first = stuck[0] if stuck else "?"
    state = states.get(first)
    reason = f"; last task error: {state.last_error}" if state and state.last_error else ""
    others = f"; also not healthy: {', '.join(stuck[1:])}" if len(stuck) > 1 else ""
    return NotReady(
        f"service {first!r} did not become healthy within {settings.up_timeout:.0f} s "
        f"({state.ready if state else 0}/{state.desired if state else '?'} ready{reason}){others}",
        hint=f"see `docker service logs {settings.stack}_{first}`",
        details=driver.logs(first),
    )


def most_likely_cause(expected: tuple[str, ...], states: dict[str, ServiceState]) -> list[str]:
    """The services not healthy, the likeliest cause first: one whose tasks exit on their own
    (a crash), then one whose tasks fail their health check (often waiting on the crashed
    one), then one missing or still starting; stack.yml order within each."""
    def rank(name: str) -> int:
        state = states.get(name)
        if state is None or not state.last_error:
            return 2
        return 1 if "unhealthy" in state.last_error else 0
    stuck = [n for n in expected if n not in states or not states[n].healthy]
    return sorted(stuck, key=rank)  # stable: file order within a rank


def down(driver: StackDriver, settings: Settings, progress: Progress, volumes: bool = False) -> list[str]:
    """Removes the stack and waits until none of its labelled objects remain.

    Returns what was removed, one line each kind. Fine when nothing is up. With `volumes`,
    the images of older builds go too (the current ones stay, so the next `up` is warm).
    """
    removed: list[str] = []
    if services := driver.services():
        progress.step(f"removing stack {settings.stack!r} ({len(services)} services)")
        driver.remove(stop_last=STOP_LAST)
        removed.append(f"{len(services)} services")
    if containers := development.remove(driver, settings, progress):
        removed.append(f"{containers} development containers")
    waiter = Waiter(settings.down_timeout, 0.5)

    def gone() -> Check:
        left = driver.leftovers(volumes)
        if left.get("networks") and not left.get("containers"):
            driver.remove_networks()
        if volumes and left.get("volumes") and not left.get("containers"):
            driver.remove_volumes()
        if volumes and left.get("secrets") and not left.get("services"):
            driver.remove_secrets()
        left = {k: v for k, v in left.items() if v}
        if not left:
            return Check(True, "every labelled object is gone")
        return Check(False, "waiting for " + ", ".join(f"{v} {k}" for k, v in left.items()))

    if waiter.until(gone, progress.update) is None:
        left = driver.leftovers(volumes)
        raise InfrastructureError(f"the stack was not gone after {settings.down_timeout:.0f} s: {left}")
    driver.unfence_ports()
    if volumes:
        progress.step("removing images of older builds")
        if outdated := images.remove_outdated(driver):
            removed.append(f"{outdated} outdated image tags")
    progress.done()
    return removed


# Stopped after every other service: the Patroni nodes release their leader key in etcd as
# they stop; with etcd stopping beside them, the leader retried for its retry_timeout (9 s).
STOP_LAST = ("etcd",)
