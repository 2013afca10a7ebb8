"""The DevOps Simulator stack as the generic core sees it (`harness.stack.target.TargetStack`):
its published ports, secrets and certificates, the Patroni cluster and the database router
it waits for, the development profile beside it, the load's OAuth2 client, the write audit."""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.driver import StackDriver
from harness.errors import ConfigError, HarnessError, InfrastructureError, NoSuchService, NotReady, PortInUse
from harness.http import http_for
from harness.metrics.prometheus import Prometheus
from harness.metrics.series import ALERT_SIGNAL, ServerSignal
from harness.progress import Progress
from harness.stack import images, lifecycle
from harness.stack.images import ImageSpec
from harness.stack.lifecycle import Deployment
from harness.stack.switches import Switch
from harness.stack.target import Published
from harness.stack.waiting import Check, Waiter
from harness.target import audit, development, owners, patroni, restore_order, scaling, secrets, tls
from harness.target.images import stack_images
from harness.target.monitoring import LB_IN_ROTATION, REPORT_SERIES

# `devsim up` sets the bench up; it is not a release. Its changes (a switch turned, a rebuilt
# image) roll out to every app task at once, start-first, instead of one task per 10 s bake:
# a negative control's switches took about 60 s to roll out and 60 s to put back.
FAST_ROLLOUT = {"APP_UPDATE_PARALLELISM": "0", "APP_UPDATE_DELAY": "0s", "APP_UPDATE_MONITOR": "2s",
                "APP_UPDATE_ORDER": "start-first"}


ENGINE_SOCKET = Path("/var/run/docker.sock")


def engine_socket_gid(socket: Path = ENGINE_SOCKET) -> int:
    """The group of the engine's socket on this host: the scaler-gate's one extra group, so
    that it alone of the stack's services may use the engine (docs/stack/autoscaling.md)."""
    try:
        found = socket.stat()
    except OSError as exc:
        raise ConfigError(f"the autoscaler's gate needs the engine's socket at {socket}: {exc.strerror}",
                          hint="run the engine on this host (scripts/setup.sh starts it)") from exc
    if not stat.S_ISSOCK(found.st_mode):
        raise ConfigError(f"{socket} is not a socket: the autoscaler's gate needs the engine's")
    if found.st_gid == 0:
        raise ConfigError(f"{socket} belongs to group root: give it a group of its own (Debian's docker.io "
                          "makes 'docker') so that the gate need not run in root's group")
    return found.st_gid


@dataclass(frozen=True)
class DevsimStack:
    name: str = "devops-simulator"
    # Stopped after every other service: the Patroni nodes release their leader key in etcd as
    # they stop; with etcd stopping beside them, the leader retried for its retry_timeout (9 s).
    stop_last: tuple[str, ...] = ("etcd",)

    release_service: str = "app"

    # The off-site copy of the backups outlives `down --volumes` unless asked for by name: a
    # kept repository's stanza is upgraded to the next cluster (target-stack/db/backup-service.py).
    @property
    def kept_volumes(self) -> dict[str, str]:
        return {"offsite": "backup-repo2"}

    def images(self, stack: str) -> tuple[ImageSpec, ...]:
        return stack_images(stack)

    def report_series(self) -> tuple[dict[str, str], ...]:
        return REPORT_SERIES

    def server_signals(self) -> dict[str, ServerSignal]:
        """`alert`: an alert fired; `lb`: a replica left the load balancer's rotation."""
        return {"alert": ALERT_SIGNAL, "lb": ServerSignal(LB_IN_ROTATION, "drops")}

    def published(self, settings: Settings) -> tuple[Published, ...]:
        return (Published("lb", settings.lb_port, "DEVSIM_LB_PORT"),
                Published("lb", settings.lb_tls_port, "DEVSIM_LB_TLS_PORT"),
                Published("monitoring", settings.prometheus_port, "DEVSIM_PROMETHEUS_PORT"),
                Published("pushgateway", settings.pushgateway_port, "DEVSIM_PUSHGATEWAY_PORT"),
                Published("mailsink", settings.mailsink_port, "DEVSIM_MAILSINK_PORT"))

    def deploy_env(self, settings: Settings) -> dict[str, str]:
        return {"APP_REPLICAS": str(settings.replicas), "LB_PORT": str(settings.lb_port),
                "LB_TLS_PORT": str(settings.lb_tls_port), "PROMETHEUS_PORT": str(settings.prometheus_port),
                "PUSHGATEWAY_PORT": str(settings.pushgateway_port), "MAILSINK_PORT": str(settings.mailsink_port),
                "DOCKER_SOCKET_GID": str(engine_socket_gid()), scaling.DEPLOY_VARIABLE: str(settings.replicas)}

    def fast_rollout(self) -> dict[str, str]:
        return dict(FAST_ROLLOUT)

    def before_up(self, driver: StackDriver, settings: Settings, progress: Progress) -> None:
        scaling.check_bounds(settings)
        development.remove(driver, settings, progress)  # the other profile gives its ports back
        restore_order.wait_while_restoring(driver, patroni.member_services(settings.stack_dir),
                                           Waiter(settings.up_timeout, settings.poll_interval), progress)

    def prepare(self, driver: StackDriver, settings: Settings, progress: Progress) -> dict[str, str]:
        owners.hand_over(driver, progress)  # volumes of an earlier release, before their services restart
        env = {**secrets.ensure(driver, progress), **tls.ensure(driver, progress),
               **scaling.kept_replicas(driver, settings, progress)}
        tls.save_ca(driver, settings)  # the CA file every HTTP session of the harness verifies the edge with
        return env

    def wait_ready(self, driver: StackDriver, settings: Settings, progress: Progress, waiter: Waiter,
                   first: bool) -> None:
        cluster = _wait_for_database(driver, settings, progress, waiter, first)
        _wait_until_serving(driver, settings, progress, waiter, cluster)

    def after_up(self, driver: StackDriver, settings: Settings) -> None:
        tls.prune(driver)  # a renewed CA's predecessor, now that nothing uses it
        # a restore that was interrupted went on in the cluster, which is whole again now
        # (every node healthy and a leader): its order is done
        if restore_order.order_placed(driver):
            restore_order.finish_order(driver)

    def remove_extras(self, driver: StackDriver, settings: Settings, progress: Progress) -> list[str]:
        containers = development.remove(driver, settings, progress)
        return [f"{containers} development containers"] if containers else []

    def meet(self, driver: StackDriver, settings: Settings) -> Settings:
        """The development profile is reached over plain HTTP; the production profile over
        HTTPS, verified against the stack's own CA, whose current certificate is written to
        the CA file the command's HTTP session (and Locust) verify with."""
        if development.runs(driver):
            return settings.replace(tls=False)
        if driver.services():
            tls.save_ca(driver, settings)  # raises when there is no CA yet
        return settings

    def before_experiment(self, driver: StackDriver, settings: Settings, progress: Progress) -> None:
        scaling.settle_at_floor(driver, progress)

    def other_profile(self, driver: StackDriver) -> str | None:
        return "development" if development.runs(driver) else None

    def load_client(self, driver: StackDriver) -> tuple[str, str] | None:
        return secrets.client_secret(driver)

    def audit_writes(self, driver: StackDriver, settings: Settings, request_log: Path,
                     progress: Progress) -> dict[str, Any] | None:
        """The write audit of the run, when the stack has a Patroni cluster and the load wrote."""
        members = patroni.member_services(settings.stack_dir)
        if not request_log.is_file() or not members:
            return None
        progress.step("auditing the acknowledged writes against the database leader")
        try:
            found = audit.run_audit(patroni.Cluster(driver, members), request_log)
        except InfrastructureError as exc:
            progress.warn(f"the write audit could not run: {exc.one_line()}")
            return {"error": exc.one_line()}
        progress.step(f"write audit: {found.acknowledged} acknowledged, {found.lost} lost, {found.ghosts} ghosts, "
                      f"{found.duplicates} duplicates")
        return found.as_dict()

    def switch_reader(self, driver: StackDriver, settings: Settings) -> Callable[[Switch], str | None]:
        """The database's switches from Patroni's dynamic configuration, read once (unknown
        when Patroni does not answer)."""
        members = patroni.member_services(settings.stack_dir)
        config = None
        if members:
            try:
                config = patroni.Cluster(driver, members).config()
            except HarnessError:
                config = None
        return lambda switch: patroni.switch_value(switch.source, config) if config is not None else None


def up_development(driver: StackDriver, settings: Settings, progress: Progress) -> Deployment:
    """The development profile (target-stack/development.yml) in place of whatever ran."""
    stack = DevsimStack()
    settings = settings.replace(tls=False)  # plain HTTP to the app itself
    if driver.services():
        progress.step("removing the production profile first (its volumes stay)")
        lifecycle.down(driver, settings, stack, progress)
    development.remove(driver, settings, progress)
    lifecycle.check_ports_free(driver, settings, stack)
    if not lifecycle.port_frees_up(development.INSPECTOR_PORT):
        raise PortInUse(f"port {development.INSPECTOR_PORT} (the app's inspector) is already in use on this host")
    image_env = images.build_images(driver, stack.images(driver.stack), settings.stack_dir, progress)
    services = development.load(settings, lifecycle.stack_env(settings, stack, image_env))
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


def _wait_until_serving(driver: StackDriver, settings: Settings, progress: Progress, waiter: Waiter,
                        cluster: patroni.Cluster | None) -> None:
    """The app served through the load balancer and scraped by Prometheus, each replica, and
    the database router following Patroni's roles."""
    prometheus = Prometheus(settings.prometheus_url)
    http = http_for(settings)  # one session for the whole wait

    def serving() -> Check:
        # what runs now, e.g. after `up --replicas 5`; read at every look, since the autoscaler
        # may scale the app while up waits (a kept count of 6 scaled in to 3: up waited for 6)
        try:
            replicas = driver.service("app").replicas
        except NoSuchService:
            replicas = settings.replicas
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
    if waiter.until(serving, progress.update) is None:
        status = serving().status
        raise NotReady(f"the stack did not start serving within {settings.up_timeout:.0f} s: {status}",
                       details=[line for name in ("lb", "app") + (("dbrouter",) if cluster else ())
                                for line in driver.logs(name)])


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
    """One Patroni leader, every node running, and a synchronous standby when asked for.
    With `configure`, Patroni's dynamic configuration is set from the switches first."""
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
