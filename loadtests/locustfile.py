"""Clients of the DevOps Simulator stack, for Locust.

Runs unchanged with the plain `locust -f loadtests/locustfile.py` (the host defaults to the
stack's load balancer, HTTPS, verified against the stack's CA in DEVSIM_CA_FILE; the
harness sets it, and the OAuth2 client below, for its own runs). Under `devsim load` and
`devsim run`, two extra options switch on what the harness needs:

  --request-log PATH      one CSV row per request (wall-clock ms, name, method, status,
                          latency, success, error, item id, ack) for outage windows and the
                          write audit; in distributed mode each worker writes PATH.worker-N
  --pushgateway URL       push client-side counters and a latency histogram to a Prometheus
                          Pushgateway every second, grouped by --run-id
"""

from __future__ import annotations

import bisect
import csv
import os
import random
import socket
import time
import urllib.request
import uuid
from collections import deque
from typing import Any

import gevent
import gevent.ssl
import locust.stats
from locust import FastHttpUser, between, constant_throughput, events, task
from locust.rpc import Message
from locust.runners import MasterRunner, WorkerRunner

# The stack's OAuth2 client: `devsim load` and `devsim run` read it from the running stack
# (a Docker secret) and hand it over in these variables; set them yourself to run Locust alone.
CLIENT = {"grant_type": "client_credentials", "client_id": os.environ.get("DEVSIM_CLIENT_ID", "loadtest"),
          "client_secret": os.environ.get("DEVSIM_CLIENT_SECRET", "")}
CA_FILE = os.environ.get("DEVSIM_CA_FILE", "")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BUCKET_METRIC = "devsim_client_request_duration_seconds_bucket"
LOG_FIELDS = ("ts_ms", "name", "method", "status", "latency_ms", "success", "error", "item_id", "ack")


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--request-log", default="", help="CSV file for one row per request")
    parser.add_argument("--request-log-sample", type=float, default=1.0,
                        help="share of successful requests logged (failures are always logged)")
    parser.add_argument("--pushgateway", default="", help="Pushgateway URL for client-side metrics")
    parser.add_argument("--run-id", default="", help="label of this run in pushed metrics")
    parser.add_argument("--token-lifetime", type=int, default=0,
                        help="seconds of token lifetime to ask for (0: the server's own; it caps the ask)")
    parser.add_argument("--token-renewal", choices=("on", "off"), default="on",
                        help="renew a token before it expires, as an OAuth2 client does with expires_in "
                             "(off: keep it until it is refused)")


class RequestLog:
    """Appends rows; flushed every second so a running experiment can read it."""

    def __init__(self, path: str, sample: float) -> None:
        self._file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed at quit
        self._csv = csv.writer(self._file)
        self._csv.writerow(LOG_FIELDS)
        self._sample = sample

    def add(self, row: tuple[Any, ...], success: bool) -> None:
        if success and self._sample < 1.0 and random.random() >= self._sample:
            return
        self._csv.writerow(row)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ClientMetrics:
    """Cumulative counters and a histogram in Prometheus text format, pushed as one group."""

    def __init__(self, url: str, run_id: str, instance: str) -> None:
        self._url = f"{url.rstrip('/')}/metrics/job/devsim_load/run_id/{run_id or 'adhoc'}/instance/{instance}"
        self._counts: dict[tuple[str, str, bool], int] = {}
        self._hist: dict[str, list[float]] = {}  # name -> per-bucket counts (last: +Inf), sum

    def add(self, name: str, method: str, success: bool, seconds: float) -> None:
        """Called for every request: kept to a dict update and one bisect."""
        key = (name, method, success)
        self._counts[key] = self._counts.get(key, 0) + 1
        hist = self._hist.get(name)
        if hist is None:
            hist = self._hist[name] = [0.0] * (len(BUCKETS) + 2)
        hist[bisect.bisect_left(BUCKETS, seconds)] += 1
        hist[-1] += seconds

    def render(self) -> str:
        out = ["# TYPE devsim_client_requests_total counter"]
        for (name, method, success), value in sorted(self._counts.items()):
            result = "success" if success else "failure"
            out.append(f'devsim_client_requests_total{{name="{name}",method="{method}",result="{result}"}} {value}')
        out.append("# TYPE devsim_client_request_duration_seconds histogram")
        for name, hist in sorted(self._hist.items()):
            cumulative = 0.0
            for i, bound in enumerate(BUCKETS):
                cumulative += hist[i]
                out.append(f'{BUCKET_METRIC}{{name="{name}",le="{bound}"}} {cumulative:g}')
            count = cumulative + hist[-2]
            out.append(f'{BUCKET_METRIC}{{name="{name}",le="+Inf"}} {count:g}')
            out.append(f'devsim_client_request_duration_seconds_sum{{name="{name}"}} {hist[-1]}')
            out.append(f'devsim_client_request_duration_seconds_count{{name="{name}"}} {count:g}')
        return "\n".join(out) + "\n"

    def push(self) -> None:
        request = urllib.request.Request(self._url, data=self.render().encode(), method="PUT",
                                         headers={"Content-Type": "text/plain; version=0.0.4"})
        try:
            urllib.request.urlopen(request, timeout=2).close()
        except OSError as exc:
            print(f"devsim: pushing client metrics failed: {exc}")


_log: RequestLog | None = None
_metrics: ClientMetrics | None = None


@events.init.add_listener
def _setup(environment: Any, **_kwargs: Any) -> None:
    global _log, _metrics
    options = environment.parsed_options
    if options is None:
        return
    if options.csv_prefix:
        locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1  # so the live progress line reads fresh history
    if isinstance(environment.runner, MasterRunner):
        environment.runner.quit = _quit_after_the_workers(environment.runner)
        return  # the master sends no requests; its workers record them
    suffix = ""
    if isinstance(environment.runner, WorkerRunner):
        suffix = f".worker-{os.getpid()}"
    if options.request_log:
        _log = RequestLog(options.request_log + suffix, options.request_log_sample)
    if options.pushgateway:
        _metrics = ClientMetrics(options.pushgateway, options.run_id, f"{socket.gethostname()}-{os.getpid()}")
    if _log or _metrics:
        gevent.spawn(_every_second)


def _quit_after_the_workers(runner: MasterRunner, grace: float = 15.0) -> Any:
    """The master's quit, waiting until each worker has said it quit (up to `grace` seconds),
    instead of Locust's fixed half second, and then for one more snapshot of the --csv files: a
    worker sends its final stats report and then its quit, so once each has quit the totals
    hold every request. On two busy cores a worker's report came later than that half second,
    and the master's CSV totals (the summary's) missed 40 of the 262 requests its workers'
    request logs held."""
    def quit() -> None:
        runner.stop(send_stop_to_client=False)
        for client in list(runner.clients.all):
            runner.server.send_to_client(Message("quit", None, client.id))
        deadline = time.monotonic() + grace
        while runner.clients and time.monotonic() < deadline:  # each worker's "quit" removes it
            gevent.sleep(0.1)
        _one_more_csv_snapshot(runner.environment)
        runner.greenlet.kill(block=True)
    return quit


def _every_second() -> None:
    while True:
        gevent.sleep(1.0)
        _flush()


def _flush() -> None:
    if _log:
        _log.flush()
    if _metrics:
        _metrics.push()


@events.request.add_listener
def _on_request(request_type: str, name: str, response_time: float, response: Any, context: dict[str, Any],
                exception: BaseException | None, start_time: float | None = None, **_kwargs: Any) -> None:
    success = exception is None
    status = getattr(response, "status_code", 0) or 0
    if _metrics:
        _metrics.add(name, request_type, success, response_time / 1000.0)
    if _log:
        item_id = context.get("item_id", "") if context else ""
        ack = ("ack" if status == 201 else ("unknown" if status == 0 else "fail")) if item_id else ""
        started = start_time if start_time is not None else time.time() - response_time / 1000.0
        error = "" if success else str(exception).replace("\n", " ")[:200]
        _log.add((int(started * 1000), name, request_type, status, f"{response_time:.2f}", 1 if success else 0,
                  error, item_id, ack), success)


def _one_more_csv_snapshot(environment: Any) -> None:
    """Locust's --csv files are snapshots taken every second, not written at the end: waits for
    one more, so that the files hold every request counted so far."""
    options = environment.parsed_options
    if options is not None and options.csv_prefix:
        gevent.sleep(locust.stats.CSV_STATS_INTERVAL_SEC + 0.5)


@events.test_stop.add_listener
def _settle_csv(environment: Any, **_kwargs: Any) -> None:
    """A local run's files wait for a snapshot after its users stopped. A worker writes none;
    a master's users are its workers', whose final reports come after its test_stop: it waits
    once they have quit (_quit_after_the_workers)."""
    if not isinstance(environment.runner, (WorkerRunner, MasterRunner)):
        _one_more_csv_snapshot(environment)


@events.quitting.add_listener
def _close(environment: Any, **_kwargs: Any) -> None:
    _flush()
    if _log:
        _log.close()


def answer(response: Any) -> str:
    """What came back, for a failure's message: the HTTP status, or, when no answer came, the
    kind of error (connection reset, time-out, ...), so that failures group by their cause."""
    code = response.status_code or 0
    if code:
        return f"HTTP {code}"
    error = getattr(response, "error", None)
    return f"HTTP 0 ({type(error).__name__})" if error is not None else "HTTP 0"


def renewal_delay(expires_in: Any) -> float:
    """Seconds after asking for a token at which to renew it: at 80 % of its lifetime, and at
    least 5 s before it expires, as OAuth2 clients do with `expires_in` (the ask's own time
    counts against it, since the clock started before the answer). Without a usable
    `expires_in` the token is kept until it is refused."""
    try:
        lifetime = float(expires_in)
    except (TypeError, ValueError):
        return float("inf")
    if lifetime <= 0:
        return float("inf")
    return max(0.0, min(lifetime * 0.8, lifetime - 5.0))


def _stack_ca_context(*_args: Any, **_kwargs: Any) -> gevent.ssl.SSLContext:
    """TLS that trusts the stack's CA alone (and checks the host name)."""
    return gevent.ssl.create_default_context(cafile=CA_FILE)


def _pacing() -> Any:
    """The wait between a user's tasks: as fast as the stack answers (0.05 to 0.15 s of
    think time), or, with DEVSIM_RATE_PER_USER, an arrival rate: each user starts that many
    tasks a second whatever the answers' time (Locust's constant throughput), so that slower
    answers cannot lower the load offered."""
    rate = os.environ.get("DEVSIM_RATE_PER_USER", "")
    return constant_throughput(float(rate)) if rate else between(0.05, 0.15)


class StackClient(FastHttpUser):
    """A client of the stack: gets a token, writes items with its own ids, reads them back."""

    host = "https://127.0.0.1:8443"
    insecure = False  # Locust's default skips verification; a client of ours never does
    ssl_context_factory = _stack_ca_context if CA_FILE else None
    wait_time = _pacing()
    network_timeout = 5.0
    connection_timeout = 2.0

    def on_start(self) -> None:
        self.token = ""
        self.renew_at = 0.0  # monotonic time after which the token is renewed before use
        self.written: deque[str] = deque(maxlen=200)
        self.get_token()

    def get_token(self) -> None:
        options = self.environment.parsed_options
        lifetime = getattr(options, "token_lifetime", 0) or 0
        form = {**CLIENT, "expires_in": str(lifetime)} if lifetime > 0 else CLIENT
        asked_at = time.monotonic()
        with self.client.post("/api/auth/token", data=form, name="POST /api/auth/token",
                              catch_response=True) as response:
            if response.status_code == 200:
                body = response.json()
                self.token = body["access_token"]
                self.renew_at = asked_at + renewal_delay(body.get("expires_in"))
                if getattr(options, "token_renewal", "on") == "off":
                    self.renew_at = float("inf")
            else:
                response.failure(f"token: {answer(response)}")

    def bearer(self) -> dict[str, str]:
        """The token as the data routes want it (writes and the report need one), renewed first
        when it is due or was refused, as the protected task does."""
        if not self.token or time.monotonic() >= self.renew_at:
            self.get_token()
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @task(3)
    def write_item(self) -> None:
        item_id = f"{uuid.uuid4()}"
        # The item id doubles as the write's Idempotency-Key: the app answers a replay of the
        # same write as the first, so the load balancer may retry it on another replica.
        with self.client.post("/api/items", json={"id": item_id, "payload": {"at": time.time()}},
                              headers={"Idempotency-Key": item_id, **self.bearer()}, name="POST /api/items",
                              context={"item_id": item_id}, catch_response=True) as response:
            if response.status_code == 201:
                self.written.append(item_id)
            else:
                response.failure(f"write: {answer(response)}")

    @task(4)
    def read_item(self) -> None:
        if not self.written:
            self.version()
            return
        item_id = random.choice(self.written)
        with self.client.get(f"/api/items/{item_id}", name="GET /api/items/:id", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"read: {answer(response)}")

    @task(2)
    def protected(self) -> None:
        if not self.token or time.monotonic() >= self.renew_at:
            self.get_token()
            return
        with self.client.get("/api/me", name="GET /api/me", headers={"Authorization": f"Bearer {self.token}"},
                             catch_response=True) as response:
            if response.status_code == 401:
                self.token = ""
                response.failure("protected: token refused (HTTP 401)")
            elif response.status_code != 200:
                response.failure(f"protected: {answer(response)}")

    @task(1)
    def report(self) -> None:
        self.client.get("/api/report", name="GET /api/report", headers=self.bearer())

    @task(1)
    def version(self) -> None:
        self.client.get("/api/version", name="GET /api/version")
