"""Probes for Chaos Toolkit experiments: numbers a tolerance can judge.

A `window` argument is "fault" (the method's fault window, recorded by
harness.chaos.controls), "run" (everything so far), "30s" (the last 30 seconds) or
[start, end] in seconds since the epoch (how `devsim run` passes the journal's window).
"first-action" is the span of the method's first action (the kill, the switchover); "applied"
the same span from the moment that action applied its fault (its output's `applied_at`).
Claims judged by `devsim run` after the experiment may also use "recovery": from the end of
the rollbacks to the end of the background load.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import requests
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from harness.chaos import engine, registry
from harness.chaos.engine import activity
from harness.chaos.evidence import NoEvidence, Refuted
from harness.chaos.window import (
    MIN_FOR_RATIO,
    MIN_REQUESTS,
    Window,
    client_rows,
    request_log,
    resolve_window,
    seconds_of,
)
from harness.chaos.writes import (
    failed_writes_outside_outage,
    lost_write_age,
    write_audit,
    write_rto,
    write_unavailability,
)
from harness.errors import InfrastructureError
from harness.load import clientlog
from harness.metrics import recorded, steps
from harness.metrics.prometheus import Prometheus
from harness.stack.waiting import Check, Waiter
from harness.target import secrets
from harness.target.devsim import DevsimStack
from harness.verdict import timing

SERVER_SIGNALS = DevsimStack().server_signals()  # `lb` and `alert`

__all__ = [
    "client_error_ratio",
    "client_failed_requests",
    "client_latency_ms",
    "client_longest_failure_run",
    "client_outage_seconds",
    "client_requests",
    "client_status_share",
    "failed_writes_outside_outage",
    "http_latency_ms",
    "http_status",
    "lost_write_age",
    "prometheus_over_window",
    "prometheus_value",
    "ready_replicas",
    "running_versions",
    "seconds_until_ready",
    "served_versions",
    "time_to_detect",
    "time_to_recover",
    "token_latency_ms",
    "token_status",
    "write_audit",
    "write_rto",
    "write_unavailability",
]

RECORD, REPLAY = "devsim_record_queries", "devsim_replay_queries"  # configuration keys: a file of answers


@registry.claim_probe
def client_error_ratio(window: Window = "fault", name: str = "", min_requests: int = MIN_FOR_RATIO,
                       configuration: Configuration = None) -> float:
    """Failed / all client requests that started in the window; fewer than `min_requests` of
    them is no evidence (with n requests a ratio is only as fine as 1/n)."""
    return clientlog.error_ratio(client_rows(window, name, configuration, min_requests))


@registry.claim_probe
def client_failed_requests(window: Window = "fault", name: str = "", min_requests: int = MIN_REQUESTS,
                           configuration: Configuration = None) -> int:
    """Client requests that started in the window and failed (at least `min_requests` sent)."""
    return sum(not r.success for r in client_rows(window, name, configuration, min_requests))


@registry.claim_probe
def client_requests(window: Window = "fault", name: str = "", configuration: Configuration = None) -> int:
    return len(client_rows(window, name, configuration))


@registry.claim_probe
def client_longest_failure_run(window: Window = "fault", name: str = "", min_requests: int = MIN_REQUESTS,
                               configuration: Configuration = None) -> float:
    """Seconds: the longest stretch in which every client request failed."""
    return clientlog.longest_failure_run_s(client_rows(window, name, configuration, min_requests))


@registry.claim_probe
def client_latency_ms(percentile: float = 95, window: Window = "fault", name: str = "",
                      min_requests: int = MIN_REQUESTS, configuration: Configuration = None) -> float:
    """A latency percentile (nearest rank) of the client requests in the window."""
    rows = client_rows(window, name, configuration, min_requests)
    return clientlog.percentile([r.latency_ms for r in rows], percentile)


@registry.claim_probe
def client_status_share(status: int, window: Window = "fault", name: str = "", min_requests: int = MIN_REQUESTS,
                        configuration: Configuration = None) -> float:
    """The share of requests in the window answered with this HTTP status (0: no answer)."""
    rows = client_rows(window, name, configuration, min_requests)
    return sum(r.status == status for r in rows) / len(rows)


# --- Prometheus ------------------------------------------------------------------------

def _prometheus(configuration: Configuration) -> Prometheus | recorded.Recorder | recorded.Replay:
    """Prometheus; while `devsim run` judges, one that keeps each answer in the run's folder;
    when `devsim judge` judges again, those answers (Prometheus is not asked)."""
    given = configuration or {}
    if given.get(REPLAY):
        return recorded.Replay(Path(given[REPLAY]))
    live = Prometheus(engine.target(configuration).prometheus_url)
    return recorded.Recorder(live, Path(given[RECORD])) if given.get(RECORD) else live


def prometheus_value(query: str, configuration: Configuration = None) -> float:
    """An instant query that must return one number (the sum when it returns several series)."""
    try:
        samples = Prometheus(engine.target(configuration).prometheus_url).vector(query)
    except InfrastructureError as exc:
        raise ActivityFailed(exc.one_line()) from exc
    if not samples:
        raise NoEvidence(f"{query!r} returned no data")
    return math.fsum(s.value for s in samples)


@registry.claim_probe
def prometheus_over_window(query: str, aggregate: str = "max", window: Window = "fault", step: float = 1.0,
                           configuration: Configuration = None) -> float:
    """A range query over the window, its series summed per step, then aggregated over time:
    max, min, avg, first, last, or increase (last minus first). Every step of the window must
    have a value: a step with no sample or a NaN one is no evidence."""
    if aggregate not in steps.AGGREGATES:
        raise ActivityFailed(f"aggregate must be one of {', '.join(steps.AGGREGATES)}, got {aggregate!r}")
    start, end = resolve_window(window)
    try:
        series = _prometheus(configuration).matrix(query, start, end, step)
    except InfrastructureError as exc:
        raise ActivityFailed(exc.one_line()) from exc
    found = steps.over_window(series, start, end, float(step), aggregate)
    if found.value is None:
        raise NoEvidence(f"{query!r} between {start:.0f} and {end:.0f}: {found.why}")
    return found.value


# --- the engine and HTTP ------------------------------------------------------------------

@activity
def ready_replicas(service: str, configuration: Configuration = None) -> int:
    """Tasks of the service that the engine reports running (healthy, where it has a health check)."""
    return sum(1 for t in engine.driver(configuration).tasks(service, desired_running=True) if t.running)


def seconds_until_ready(service: str, replicas: int, timeout: float = 60, expect_drop_s: float = 3,
                        configuration: Configuration = None) -> float:
    """Seconds from this probe's start until `replicas` tasks run and the load balancer reports
    ready. Right after a fault Swarm may not have noticed it yet: for up to `expect_drop_s`
    it first waits to see fewer tasks running, so that the count it ends on is the new one."""
    started = time.monotonic()
    Waiter(float(expect_drop_s), 0.1).until(lambda: Check(ready_replicas(service, configuration) < replicas, ""))

    def ready() -> Check:
        return Check(ready_replicas(service, configuration) >= replicas
                     and http_status("/ready", timeout=1, configuration=configuration) == 200, "")

    if Waiter(max(0.0, float(timeout) - (time.monotonic() - started)), 0.25).until(ready) is None:
        raise Refuted(f"{service}: fewer than {replicas} ready replicas after {timeout:g} s",
                      at_least=round(time.monotonic() - started, 2))
    return round(time.monotonic() - started, 2)


def _http(path: str, method: str, data: dict[str, str] | None, timeout: float,
          configuration: Configuration) -> tuple[int, float]:
    started = time.monotonic()
    try:
        status = engine.http(configuration).request(method, engine.target(configuration).lb_url + path,
                                                    data=data, timeout=timeout).status_code
    except requests.RequestException:
        status = 0
    return status, round((time.monotonic() - started) * 1000, 1)


def http_status(path: str = "/health", method: str = "GET", data: dict[str, str] | None = None,
                timeout: float = 2, configuration: Configuration = None) -> int:
    """The status the load balancer answers for a request; 0 when nothing answers in time."""
    return _http(path, method, data, timeout, configuration)[0]


def http_latency_ms(path: str = "/health", method: str = "GET", data: dict[str, str] | None = None,
                    timeout: float = 5, configuration: Configuration = None) -> float:
    """How long the load balancer takes to answer a request (the timeout when it does not)."""
    return _http(path, method, data, timeout, configuration)[1]


def _token_request(timeout: float, configuration: Configuration) -> tuple[int, float]:
    client_id, secret = secrets.client_secret(engine.driver(configuration))
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return _http("/api/auth/token", "POST", form, timeout, configuration)


def token_status(timeout: float = 2, configuration: Configuration = None) -> int:
    """The status of a token request with the load test's OAuth2 client (its secret read from
    the running stack); 0 when nothing answers in time."""
    return _token_request(timeout, configuration)[0]


def token_latency_ms(timeout: float = 5, configuration: Configuration = None) -> float:
    """How long a token request with the load test's OAuth2 client takes to be answered."""
    return _token_request(timeout, configuration)[1]


def served_versions(samples: int = 30, configuration: Configuration = None) -> str:
    """The distinct app versions answering /api/version through the load balancer, sorted and
    comma-joined ("v2", or "v1,v2" while a rollout is half done), so a tolerance can be "v2"."""
    seen = set()
    http, url = engine.http(configuration), engine.target(configuration).lb_url + "/api/version"
    for _ in range(samples):
        try:
            seen.add(str(http.get(url, timeout=2).json()["version"]))
        except (requests.RequestException, ValueError, KeyError):
            seen.add("no answer")
    return ",".join(sorted(seen))


@activity
def running_versions(service: str = "app", configuration: Configuration = None) -> str:
    """The releases of the service's running task images (from the image label), comma-joined."""
    driver = engine.driver(configuration)
    versions = set()
    for container in driver.containers(service):
        image = driver.image(container.image_id)
        versions.add(str(image.labels.get("devsim.version", "?")) if image else "?")
    return ",".join(sorted(versions))


# --- time to detect and to recover (harness.verdict.timing), from the window's start -----

@registry.claim_probe
def time_to_detect(signal: str = "client", window: Window = "fault", configuration: Configuration = None) -> float:
    """Seconds from the window's start (the fault's) to the first sign of the fault: `client`
    the first failed request ended, `lb` a replica left the load balancer's rotation, `alert`
    an alert fired. No sign at all is no evidence."""
    start, end = resolve_window(window)
    if signal == "client":
        found = timing.client_timing(request_log(configuration), start, math.inf).detect["client"]
    elif signal in SERVER_SIGNALS:
        signals = {signal: SERVER_SIGNALS[signal]}
        series = timing.sample_server(_prometheus(configuration).matrix, start, end, signals)
        found = timing.server_detection(series, start, signals)[signal]
    else:
        raise ActivityFailed(f"signal must be client, lb or alert, got {signal!r}")
    if found is None:
        raise NoEvidence(f"no {signal} sign of the fault after it started")
    return found


@registry.claim_probe
def time_to_recover(window: Window = "fault", configuration: Configuration = None) -> float:
    """Seconds from the window's start to the end of the last failed client request, when a
    request succeeded after it; 0 when none failed and the log covers the window. Not
    recovered before the log ended is a lower bound (judged against the tolerance)."""
    start, end = resolve_window(window)
    return seconds_of(timing.recovery_span(request_log(configuration), start, end),
                                "the client request log does not cover the window",
                                "no client request succeeded after the last failure")


@registry.claim_probe
def client_outage_seconds(window: Window = "fault", configuration: Configuration = None) -> float:
    """The longest stretch overlapping the window in which no client request succeeded; a
    stretch still going on where the log ends is a lower bound (judged against the tolerance)."""
    start, end = resolve_window(window)
    return seconds_of(timing.outage_span(request_log(configuration), start, end),
                                "no client request overlaps the window",
                                "no client request succeeded for the rest of the log")
