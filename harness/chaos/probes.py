"""Probes for Chaos Toolkit experiments: numbers a tolerance can judge.

A `window` argument is "fault" (the method's fault window, recorded by
harness.chaos.controls), "run" (everything so far), "30s" (the last 30 seconds) or
[start, end] in seconds since the epoch (how `devsim run` passes the journal's window).
"first-action" is the span of the method's first action (the kill, the switchover).
Claims judged by `devsim run` after the experiment may also use "recovery": from the end of
the rollbacks to the end of the background load.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import requests
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from harness.chaos import controls, engine
from harness.chaos.engine import activity
from harness.chaos.evidence import NoEvidence, Refuted
from harness.errors import InfrastructureError
from harness.evidence import audit
from harness.load import clientlog
from harness.metrics.prometheus import Prometheus
from harness.stack import patroni, secrets
from harness.stack.waiting import Check, Waiter
from harness.verdict import timing

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

Window = str | list[float] | tuple[float, float]
_SECONDS = re.compile(r"^(?:last\s*)?(\d+(?:\.\d+)?)\s*s$")
AGGREGATES = ("max", "min", "avg", "first", "last", "increase")


def resolve_window(window: Window) -> tuple[float, float]:
    now = time.time()
    if isinstance(window, list | tuple):
        if len(window) != 2:
            raise ActivityFailed(f"a window is [start, end], got {window!r}")
        return float(window[0]), float(window[1])
    if window == "fault":
        found = controls.fault_window()
        if found is None:
            raise ActivityFailed("the fault window has not opened: no method action has started "
                                 "(is the harness.chaos.controls control declared?)")
        return found
    if window == "first-action":
        action = controls.first_action()
        if action is None:
            raise ActivityFailed("the method's first action has not ended yet")
        return action
    if window == "run":
        return 0.0, now
    m = _SECONDS.match(str(window).strip())
    if not m:
        raise ActivityFailed(f"bad window {window!r}: use fault, first-action, run, 30s or [start, end]")
    return now - float(m.group(1)), now


# --- the client request log ------------------------------------------------------------

def request_log(configuration: Configuration) -> list[clientlog.Request]:
    """The run's client request log so far (the background load's requests.csv)."""
    path = engine.target(configuration).request_log
    if not path:
        raise ActivityFailed("no client request log: run under `devsim run`, or set the request_log "
                             "configuration to the requests.csv of a running `devsim load`")
    try:
        rows = clientlog.read(path)
    except OSError as exc:
        raise ActivityFailed(f"cannot read the client request log {path}: {exc.strerror}") from exc
    return rows


def _client_rows(window: Window, name: str, configuration: Configuration) -> list[clientlog.Request]:
    start, end = resolve_window(window)
    found = clientlog.within(request_log(configuration), start, end, name)
    if not found:
        raise NoEvidence(f"no client requests{' named ' + repr(name) if name else ''} in the window")
    return found


def client_error_ratio(window: Window = "fault", name: str = "", configuration: Configuration = None) -> float:
    """Failed / all client requests that started in the window."""
    return clientlog.error_ratio(_client_rows(window, name, configuration))


def client_failed_requests(window: Window = "fault", name: str = "", configuration: Configuration = None) -> int:
    return sum(not r.success for r in _client_rows(window, name, configuration))


def client_requests(window: Window = "fault", name: str = "", configuration: Configuration = None) -> int:
    return len(_client_rows(window, name, configuration))


def client_longest_failure_run(window: Window = "fault", name: str = "",
                               configuration: Configuration = None) -> float:
    """Seconds: the longest stretch in which every client request failed."""
    return clientlog.longest_failure_run_s(_client_rows(window, name, configuration))


def client_latency_ms(percentile: float = 95, window: Window = "fault", name: str = "",
                      configuration: Configuration = None) -> float:
    """A latency percentile (nearest rank) of the client requests in the window."""
    return clientlog.percentile([r.latency_ms for r in _client_rows(window, name, configuration)], percentile)


def client_status_share(status: int, window: Window = "fault", name: str = "",
                        configuration: Configuration = None) -> float:
    """The share of requests in the window answered with this HTTP status (0: no answer)."""
    rows = _client_rows(window, name, configuration)
    return sum(r.status == status for r in rows) / len(rows)


# --- Prometheus ------------------------------------------------------------------------

def _prometheus(configuration: Configuration) -> Prometheus:
    return Prometheus(engine.target(configuration).prometheus_url)


def prometheus_value(query: str, configuration: Configuration = None) -> float:
    """An instant query that must return one number (the sum when it returns several series)."""
    try:
        samples = _prometheus(configuration).vector(query)
    except InfrastructureError as exc:
        raise ActivityFailed(exc.one_line()) from exc
    if not samples:
        raise NoEvidence(f"{query!r} returned no data")
    return math.fsum(s.value for s in samples)


def prometheus_over_window(query: str, aggregate: str = "max", window: Window = "fault", step: float = 1.0,
                           configuration: Configuration = None) -> float:
    """A range query over the window, its series summed per step, then aggregated over time:
    max, min, avg, first, last, or increase (last minus first)."""
    if aggregate not in AGGREGATES:
        raise ActivityFailed(f"aggregate must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
    start, end = resolve_window(window)
    try:
        series = _prometheus(configuration).matrix(query, start, end, step)
    except InfrastructureError as exc:
        raise ActivityFailed(exc.one_line()) from exc
    per_step: dict[float, float] = {}
    for points in series:
        for ts, value in points:
            per_step[ts] = per_step.get(ts, 0.0) + value
    if not per_step:
        raise NoEvidence(f"{query!r} returned no data between {start:.0f} and {end:.0f}")
    values = [per_step[t] for t in sorted(per_step)]
    return {"max": max(values), "min": min(values), "avg": math.fsum(values) / len(values), "first": values[0],
            "last": values[-1], "increase": values[-1] - values[0]}[aggregate]


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


# --- writes and the write audit ----------------------------------------------------------

def write_rto(window: Window = "first-action", configuration: Configuration = None) -> float:
    """Seconds from the start of the fault (the method's first action) to the end of the first
    acknowledged write sent after the fault was applied: the recovery time clients saw."""
    start, applied = resolve_window(window)
    rows = _client_rows("run", "", configuration)
    recovered = clientlog.write_recovery_ms(rows, start, applied)
    if recovered is None:
        sent_after = [r.end_ms for r in clientlog.writes(rows) if r.ts_ms >= applied * 1000]
        if not sent_after:
            raise NoEvidence("no write was sent after the fault")
        raise Refuted(f"none of the {len(sent_after)} writes sent after the fault was acknowledged",
                      at_least=round(max(sent_after) / 1000.0 - start, 3))
    return round(recovered / 1000.0 - start, 3)


def failed_writes_outside_outage(window: Window = "first-action", configuration: Configuration = None) -> int:
    """Failed or unanswered writes that ended before the fault or were sent after writes were
    acknowledged again: client write errors the outage does not explain."""
    start, applied = resolve_window(window)
    rows = _client_rows("run", "", configuration)
    recovered = clientlog.write_recovery_ms(rows, start, applied)
    return len(clientlog.failed_writes_outside(rows, start, recovered if recovered is not None else math.inf))


def write_unavailability(window: Window = "fault", configuration: Configuration = None) -> float:
    """Seconds: the longest time in the window in which no write was acknowledged."""
    start, end = resolve_window(window)
    return round(clientlog.longest_write_gap_s(_client_rows("run", "", configuration), start, end), 3)


def audit_found(configuration: Configuration = None) -> dict[str, Any]:
    """The run's write audit (audit.json); audited now, from the database's leader, when
    there is none yet."""
    t = engine.target(configuration)
    if not t.request_log:
        raise ActivityFailed("no client request log to audit: run under `devsim run`")
    log = Path(t.request_log)
    found = audit.saved(log.parent)
    if found is None:
        try:
            found = audit.run_audit(patroni.discover(engine.driver(configuration)), log).as_dict()
        except (InfrastructureError, OSError) as exc:
            raise ActivityFailed(f"cannot audit the writes: {exc}") from exc
    return found


def write_audit(field: str = "lost", configuration: Configuration = None) -> int:
    """One count of the write audit (lost, ghosts, duplicates, acknowledged, ...), from the
    run's audit.json; audited now, from the database's leader, when there is none yet."""
    found = audit_found(configuration)
    if field not in found or not isinstance(found[field], int):
        raise ActivityFailed(f"the write audit has no count {field!r}")
    return int(found[field])


def lost_write_age(window: Window = "first-action", configuration: Configuration = None) -> float:
    """Seconds before the fault (the method's first action) the earliest LOST write was
    acknowledged: how far back a restore to the latest point lost data. 0 when none was."""
    start, _applied = resolve_window(window)
    first = audit_found(configuration).get("lost_first_ack")
    return 0.0 if first is None else round(max(0.0, start - float(first)), 3)


# --- time to detect and to recover (harness.verdict.timing), from the window's start -----

def time_to_detect(signal: str = "client", window: Window = "fault", configuration: Configuration = None) -> float:
    """Seconds from the window's start (the fault's) to the first sign of the fault: `client`
    the first failed request ended, `lb` a replica left the load balancer's rotation, `alert`
    an alert fired. No sign at all is no evidence."""
    start, end = resolve_window(window)
    if signal == "client":
        found = timing.client_timing(request_log(configuration), start, math.inf).detect["client"]
    elif signal in timing.SERVER_QUERIES:
        series = timing.sample_server(_prometheus(configuration).matrix, start, end, signals=(signal,))
        found = timing.server_detection(series, start)[signal]
    else:
        raise ActivityFailed(f"signal must be client, lb or alert, got {signal!r}")
    if found is None:
        raise NoEvidence(f"no {signal} sign of the fault after it started")
    return found


def time_to_recover(window: Window = "fault", configuration: Configuration = None) -> float:
    """Seconds from the window's start to the end of the last failed client request (to the
    end of the log); 0 when no request failed."""
    start, _ = resolve_window(window)
    found = timing.client_timing(request_log(configuration), start, math.inf).recover["client"]
    return 0.0 if found is None else found


def client_outage_seconds(window: Window = "fault", configuration: Configuration = None) -> float:
    """The longest stretch overlapping the window in which no client request succeeded."""
    start, end = resolve_window(window)
    found = timing.longest_outage(request_log(configuration), start, end)
    if found is None:
        raise NoEvidence("fewer than two successful client requests: no outage can be measured")
    return round(found[1] - found[0], 3)
