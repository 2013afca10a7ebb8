"""`devsim load`: preflight, a bounded headless Locust run, SLO verdict and the run's files."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from harness.config import PROJECT_ROOT, Settings
from harness.driver import StackDriver
from harness.errors import InfrastructureError, UsageError
from harness.http import UP_HINT, Http, HttpFailed, is_tls_failure
from harness.load import clientlog, results, scoped, shapes, slo
from harness.load.runner import LoadPlan, LocustProcess, check_extra
from harness.metrics import series as report_series
from harness.progress import Progress
from harness.runs import RunFiles, new_run_dir
from harness.stack.services import running_versions
from harness.stack.waiting import Check, Waiter

DEFAULT_LOCUSTFILE = PROJECT_ROOT / "loadtests" / "locustfile.py"
MAX_USERS = 2000
MAX_RUN_TIME = 3600.0
MAX_RATE = 100.0  # --rate-per-user: tasks a second per user
_DURATION = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m(?!s))?\s*(?:(\d+)s)?\s*$")


@dataclass(frozen=True)
class LoadOptions:
    users: int = 20
    spawn_rate: float = 10.0
    run_time: float = 60.0
    slos: tuple[str, ...] = ()
    junit: Path | None = None
    workers: int = 0
    locustfile: Path = DEFAULT_LOCUSTFILE
    locust_args: tuple[str, ...] = ()  # passed through to Locust (after `--` on the command line)
    shape: tuple[shapes.Stage, ...] = ()  # a load shape (--shape): users and run time are its peak and length
    rate_per_user: float = 0.0  # --rate-per-user: an arrival rate; 0: as fast as the stack answers
    config: Path | None = None  # a locust.conf for Locust to read first


@dataclass(frozen=True)
class LoadOutcome:
    run_id: str
    run_dir: Path
    passed: bool
    table: str


def parse_duration(text: str, flag: str = "") -> float:
    """'90', '90s', '2m', '1h30m' -> seconds; `flag`: the option it came from, named in the error."""
    if text.strip().isdigit():
        return float(text)
    m = _DURATION.match(text)
    if not m or not any(m.groups()):
        raise UsageError(f"{flag + ': ' if flag else ''}bad duration {text!r}", hint="use e.g. 30s, 2m or 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def check_options(options: LoadOptions) -> tuple[slo.Slo, ...]:
    """Validates everything before any load is sent; returns the parsed SLOs."""
    if not 1 <= options.users <= MAX_USERS:
        raise UsageError(f"--users must be between 1 and {MAX_USERS}, got {options.users}")
    if options.spawn_rate <= 0:
        raise UsageError(f"--spawn-rate must be positive, got {options.spawn_rate:g}")
    if options.rate_per_user and not (math.isfinite(options.rate_per_user) and 0 < options.rate_per_user <= MAX_RATE):
        raise UsageError(f"--rate-per-user must be above 0 and at most {MAX_RATE:g} requests a second, "
                         f"got {options.rate_per_user:g}")
    if options.shape and shapes.total_seconds(list(options.shape)) > MAX_RUN_TIME:
        raise UsageError(f"the load shape lasts {shapes.total_seconds(list(options.shape)):.0f} s; devsim load runs "
                         f"at most {MAX_RUN_TIME:.0f} s")
    if not 1 <= options.run_time <= MAX_RUN_TIME:
        raise UsageError(f"--run-time must be between 1 s and {MAX_RUN_TIME:.0f} s, got {options.run_time:g} s")
    if not 0 <= options.workers <= 16:
        raise UsageError(f"--workers must be between 0 and 16, got {options.workers}")
    if not options.locustfile.is_file():
        raise UsageError(f"no locustfile at {options.locustfile}")
    check_extra(options.locust_args)
    if options.config is not None and not options.config.is_file():
        raise UsageError(f"{options.config} is not a file")
    slos = slo.parse_all(options.slos or slo.DEFAULT_SLOS)
    scoped.check(slos, options.shape)
    return slos


def scoped_figures(run_dir: Path) -> Callable[[slo.Slo], float]:
    """What a scoped SLO measures in this run: its requests, from the request log, in its
    phases, from the shape's log."""
    rows = clientlog.read(run_dir / results.REQUEST_LOG)
    end = max((r.end_ms for r in rows), default=0.0) / 1000
    phases = scoped.read_phases(run_dir / scoped.SHAPE_LOG, end)
    return lambda objective: scoped.measure(objective, rows, phases)


HEALTH_GRACE = 15.0  # s: a load balancer that answers, but with no backend ready yet (503)
HEALTH_WAITER = Waiter(timeout=HEALTH_GRACE, interval=0.5)


def preflight(settings: Settings, http: Http, progress: Progress | None = None,
              waiter: Waiter = HEALTH_WAITER) -> str | None:
    """The target must answer before load is sent; returns the Pushgateway URL to push to.

    A target that does not answer at all is refused at once. One whose load balancer
    answers, but not 200 (no backend ready: a moment after an experiment or a restart),
    gets HEALTH_GRACE seconds to become ready first.
    """
    url = f"{settings.lb_url}/health"
    codes: list[int] = []

    def healthy() -> Check:
        try:
            codes.append(http.get(url, timeout=3).status_code)
        except requests.RequestException as exc:
            raise HttpFailed(f"the target {settings.lb_url} cannot be reached: {http.explain(exc, url, 3)}",
                             hint=UP_HINT if is_tls_failure(exc) else "is the stack up? run `devsim up`") from exc
        return Check(codes[-1] == 200, f"waiting for {url} to answer 200 (it answers {codes[-1]})")

    if waiter.until(healthy, progress.update if progress else lambda _s: None) is None:
        raise InfrastructureError(f"the target {url} answers {codes[-1]}, not 200 (for {waiter.timeout:g} s)",
                                  hint="see `devsim status`")
    try:
        ready = http.get(f"{settings.pushgateway_url}/-/ready", timeout=3).status_code == 200
    except requests.RequestException:
        ready = False
    if not ready:
        raise InfrastructureError(f"the stack's Pushgateway at {settings.pushgateway_url} does not answer",
                                  hint="client metrics cannot reach Prometheus; run `devsim up`")
    return settings.pushgateway_url


def run_load(settings: Settings, http: Http, options: LoadOptions, progress: Progress,
             driver: StackDriver | None = None, client: tuple[str, str] | None = None,
             series: Sequence[Mapping[str, str]] = ()) -> LoadOutcome:
    """A bounded, headless Locust run. `driver`: the stack's, when an engine answers (for the
    versions that ran); `client`: the OAuth2 client the load signs in with, if the stack has
    one; `series`: the server-side series its report charts."""
    slos = check_options(options)
    pushgateway = preflight(settings, http, progress)
    run_id, run_dir = new_run_dir(settings.reports_dir, "load")
    plan = LoadPlan(locustfile=options.locustfile.resolve(), host=settings.lb_url, users=options.users,
                    spawn_rate=options.spawn_rate, run_time=options.run_time, run_dir=run_dir, run_id=run_id,
                    workers=options.workers, pushgateway=pushgateway, extra=options.locust_args,
                    config=options.config, client=client, ca_file=settings.edge_ca_file,
                    shape=shapes.to_env(list(options.shape)) if options.shape else "",
                    rate_per_user=options.rate_per_user)
    shaped = " (shape: " + ", ".join(f"{p} {b - a:g} s" for p, a, b in shapes.phases(list(options.shape))) + ")"
    progress.step(f"load run {run_id}: {'up to ' if options.shape else ''}{options.users} users for "
                  f"{options.run_time:g} s{shaped if options.shape else ''}"
                  + (f" on {options.workers} workers" if options.workers else "") + f" -> {run_dir}")
    if options.config or options.locust_args:
        progress.step("Locust also reads " + " and ".join(
            ([f"{options.config}"] if options.config else []) + ([" ".join(options.locust_args)] if options.locust_args
                                                                  else [])))
    started = time.monotonic()
    started_at = time.time()
    versions = {"stack": settings.stack, "start": running_versions(driver, settings) if driver else {}}
    with LocustProcess(plan) as locust:
        while locust.running() and time.monotonic() - started < options.run_time + 90:
            live = results.read_live(plan.history_csv)
            if live:
                progress.update(f"users {live.users}  rps {live.rps:.1f}  failures {live.failures}  "
                                f"p95 {live.p95:g} ms  requests {live.requests}")
            time.sleep(1.0)
        code = locust.wait(timeout=max(1.0, options.run_time + 120 - (time.monotonic() - started)))
    progress.done()
    if code != 0 or not plan.stats_csv.exists():
        raise InfrastructureError(f"Locust exited {code} without a result", details=locust.log_tail())
    rows = results.merge_request_logs(run_dir)
    totals = results.read_totals(plan.stats_csv)
    verdicts = slo.evaluate(slos, totals.figures(), scoped_figures(run_dir) if any(s.scope for s in slos) else None)
    elapsed = time.monotonic() - started
    ended_at = time.time()
    versions["end"] = running_versions(driver, settings) if driver else {}
    progress.step("sampling the server-side series from Prometheus for the report")
    report_series.write(run_dir, report_series.sample(settings.prometheus_url, started_at, ended_at, series))
    summary = results.write_summary(RunFiles(run_dir).summary, run_id, totals, verdicts, {
        "users": options.users, "workers": options.workers, "run_time_s": options.run_time,
        "target": settings.lb_url, "request_log_rows": rows, "duration_s": round(elapsed, 1),
        "started": started_at, "ended": ended_at, "versions": versions, "run_dir": str(run_dir),
        **arrival_rate(options, totals.requests, elapsed),
    })
    if options.junit:
        results.write_junit(options.junit, run_id, verdicts, elapsed)
    table = results.summary_table(totals, verdicts)
    if "intended_rps" in summary:
        table += (f"\narrival rate: intended {summary['intended_rps']:g}/s, achieved {summary['achieved_rps']:g}/s "
                  f"({options.rate_per_user:g} a second per user)")
    return LoadOutcome(run_id, run_dir, summary["status"] == "passed", table)


def arrival_rate(options: LoadOptions, requests: int, seconds: float) -> dict[str, float]:
    """With --rate-per-user: the rate intended (users over time, each at its rate; a shape's
    stages weighted by their length) and the rate achieved (requests over the run's time);
    {} without it. An achieved rate well under the intended one means the users could not
    keep their pace: the load offered fell, and a claim measured under it says so."""
    if not options.rate_per_user:
        return {}
    stages = list(options.shape)
    users = (sum(s.users * s.seconds for s in stages) / shapes.total_seconds(stages)) if stages else options.users
    return {"intended_rps": round(users * options.rate_per_user, 2),
            "achieved_rps": round(requests / seconds, 2) if seconds > 0 else 0.0}
