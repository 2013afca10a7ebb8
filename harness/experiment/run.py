"""`devsim run`: an experiment under background load, rollbacks always, claims over the fault window.

    preflight -> start load -> chaoslib.run_experiment (rollbacks: always) -> stop load
              -> safety net (undo every fault kind) -> steady state again -> claims -> verdict.json
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from chaoslib.exit import exit_gracefully
from chaoslib.experiment import run_experiment
from chaoslib.run import RunEventHandler

from harness.chaos import actions, controls, probes, runstate
from harness.chaos import claims as claimlib
from harness.chaos import engine as chaos_engine
from harness.config import Settings
from harness.context import RunContext
from harness.errors import InfrastructureError, NotReady, UsageError
from harness.experiment import abort, redact
from harness.experiment.preflight import check_live
from harness.load import logindex, results
from harness.load.runner import LoadPlan, LocustProcess
from harness.load.session import DEFAULT_LOCUSTFILE, MAX_RUN_TIME
from harness.metrics import series as report_series
from harness.metrics.prometheus import Prometheus
from harness.runs import RunFiles, new_run_dir
from harness.signals import signals_deferred
from harness.stack import lifecycle
from harness.stack.services import declared_services, running_versions, stack_status
from harness.stack.waiting import Check, Waiter
from harness.verdict import judge, record, timing
from harness.verdict.record import Claim, Rollback, UnderControl, Verdict, Window

CHAOS_SETTINGS = {"runtime": {"rollbacks": {"strategy": "always"}}}


@dataclass(frozen=True)
class RunOptions:
    variables: dict[str, Any] = field(default_factory=dict)
    load_users: int = 10
    warmup_s: float = 3.0
    settle_s: float = 6.0
    control: UnderControl | None = None  # --prove: the negative control this run is made under


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    run_dir: Path
    interrupted: bool = False

    @property
    def status(self) -> str:  # passed, failed or error
        return self.verdict.status

    @property
    def reason(self) -> str:
        return self.verdict.reason

    @property
    def claims(self) -> tuple[Claim, ...]:
        return self.verdict.claims


class Interrupted(Exception):
    """SIGTERM outside Chaos Toolkit's own handling, raised so that every `finally` runs."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Interrupted("SIGTERM")


RECEIVED: list[str] = []  # every SIGINT the process got, including one a finalizer swallowed


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C, as Python's own handler does it, but noted first: a KeyboardInterrupt raised
    while a finalizer runs (a connection pool closed by the garbage collector) is printed as
    "Exception ignored" and lost, and the run went on to pass and exit 0 (seen in CI)."""
    RECEIVED.append("SIGINT")
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    """SIGTERM behaves like Ctrl-C; Chaos Toolkit takes it over while the experiment runs.
    SIGINT is noted before it raises, so that a run never misses it."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not ignored (a background job)
        signal.signal(signal.SIGINT, _on_sigint)


def configuration(settings: Settings, run_dir: Path, variables: dict[str, Any]) -> dict[str, Any]:
    return {**variables, **chaos_engine.for_settings(settings), "request_log": str(run_dir / results.REQUEST_LOG)}


def run_one(ctx: RunContext, path: Path, experiment: dict[str, Any], options: RunOptions) -> Outcome:
    settings, progress, driver = ctx.settings, ctx.progress, ctx.driver
    chaos_engine.adopt(driver, settings)  # the extension's activities use this command's driver and settings
    services = declared_services(settings.stack_dir)
    check_live(settings, ctx.http, path, experiment)
    ctx.target.before_experiment(driver, settings, progress)  # e.g. an autoscaled app back at its floor
    run_id, run_dir = new_run_dir(settings.reports_dir, path.stem)
    config = configuration(settings, run_dir, options.variables)
    # Plain values replace the file's env-based entries: chaoslib takes them as they are.
    experiment = dict(experiment, configuration={**(experiment.get("configuration") or {}), **config})
    hidden = redact.credentials(options.variables)  # used as given, written as "[redacted]"
    RunFiles(run_dir).experiment.write_text(  # as it ran
        json.dumps(redact.scrub(experiment, hidden), indent=2, default=str) + "\n")
    plan = LoadPlan(locustfile=DEFAULT_LOCUSTFILE, host=settings.lb_url, users=options.load_users,
                    spawn_rate=max(1.0, options.load_users), run_time=MAX_RUN_TIME, run_dir=run_dir, run_id=run_id,
                    pushgateway=settings.pushgateway_url, client=ctx.target.load_client(driver),
                    ca_file=settings.edge_ca_file)
    progress.step(f"{path.name}: run {run_id}, background load {options.load_users} users -> {run_dir}")
    journal: dict[str, Any] = {}
    started = time.time()
    versions = {"stack": settings.stack, "start": running_versions(driver, settings)}
    load_end = time.time()
    interrupted = ""
    tripped: abort.Tripped | None = None
    restored: list[str] = []
    signals = SignalSeen()
    received = len(RECEIVED)
    try:
        with LocustProcess(plan) as load:
            _warm_up(load, plan, options.warmup_s)
            runstate.reset()
            runstate.harness_drives(True)
            progress.step(f"running {experiment.get('title', path.name)!r} (rollbacks: always)")
            with abort.Watch(abort.conditions(experiment), abort.measurer(plan.request_log, settings.prometheus_url),
                             runstate.fault_start, runstate.method_running, exit_gracefully) as watch:
                journal = run_experiment(experiment, settings=CHAOS_SETTINGS, event_handlers=[signals])
            tripped = watch.tripped
            if tripped:
                progress.warn(tripped.reason())
            time.sleep(options.settle_s)
        load_end = time.time()
    except (KeyboardInterrupt, Interrupted) as exc:
        interrupted = _why(exc)
    finally:
        runstate.harness_drives(False)
        progress.step("safety net: undoing any fault still in place")
        with signals_deferred(progress, "the safety net") as deferred:
            restored = actions.restore_everything(list(services), configuration=config)
        interrupted = interrupted or (f"interrupted ({deferred[0]})" if deferred else "")
        interrupted = interrupted or ("interrupted (SIGINT)" if len(RECEIVED) > received else "")
    # written before waiting, so that it is kept even if the stack never settles again
    RunFiles(run_dir).journal.write_text(json.dumps(redact.scrub(journal, hidden), indent=2, default=str) + "\n")
    if journal.get("status") == "interrupted" and not tripped:
        interrupted = interrupted or f"interrupted ({signals.seen or 'a signal during the experiment'})"
    recovery = claimlib.recovery_window(journal, load_end) if journal else None
    ended = time.time()
    not_back = ""
    try:
        progress.step("waiting for the stack's steady state")
        try:
            lifecycle.wait_until_healthy(driver, settings, ctx.target, progress)
        except NotReady as exc:  # the system failed: judged, not an error of the harness
            not_back = exc.one_line()
            progress.warn(f"the stack did not come back after the rollbacks: {not_back}")
        versions["end"] = running_versions(driver, settings)
        ended = time.time()
        progress.step("sampling the server-side series from Prometheus for the report")
        report_series.write(run_dir, report_series.sample(settings.prometheus_url, started, ended,
                                                          (*ctx.target.report_series(),
                                                           *record.report_series(experiment))))
    except (KeyboardInterrupt, Interrupted) as exc:
        interrupted = interrupted or f"{_why(exc)} while waiting for the steady state"
    with signals_deferred(progress, "the verdict") as deferred:
        outcome = _judge(ctx, RunEvidence(
            path=path, experiment=experiment, journal=journal, run_id=run_id, run_dir=run_dir, config=config,
            started=started, ended=ended, versions=versions, recovery=recovery, interrupted=interrupted,
            restored=tuple(restored), control=options.control, tripped=tripped, not_back=not_back, hidden=hidden))
    if deferred and not outcome.interrupted:  # a signal while judging: the verdict says so
        status, reason = judge.status(journal, outcome.claims, f"interrupted ({deferred[0]}) while judging")
        verdict = replace(outcome.verdict, status=status, reason=reason)
        verdict.write(RunFiles(run_dir))
        outcome = Outcome(verdict, run_dir, interrupted=True)
    return outcome


class SignalSeen(RunEventHandler):  # type: ignore[misc]  # chaoslib has no types
    """Which signal Chaos Toolkit caught while it ran the experiment (it plays the rollbacks
    and returns an "interrupted" journal that does not say): Ctrl-C is a KeyboardInterrupt,
    SIGTERM its InterruptExecution, SIGUSR1/2 a SystemExit."""

    def __init__(self) -> None:
        self.seen = ""

    def interrupted(self, experiment: Any, journal: Any) -> None:
        self.seen = self.seen or "SIGTERM"

    def signal_exit(self) -> None:  # called inside chaoslib's `except` block
        caught = sys.exc_info()[1]
        self.seen = self.seen or ("SIGINT" if isinstance(caught, KeyboardInterrupt) else
                                  f"exit signal {getattr(caught, 'code', '?')}")


def _why(exc: BaseException) -> str:
    return f"interrupted ({'SIGINT' if isinstance(exc, KeyboardInterrupt) else exc})"


def _warm_up(load: LocustProcess, plan: LoadPlan, seconds: float) -> None:
    started = time.monotonic()

    def warm() -> Check:
        if not load.running():
            raise InfrastructureError("the background load stopped before the experiment began",
                                      details=load.log_tail())
        has_rows = plan.request_log.exists() and plan.request_log.stat().st_size > 200
        return Check(has_rows and time.monotonic() - started >= seconds, "")

    if Waiter(max(20.0, seconds * 4), 0.5).until(warm) is None:
        raise InfrastructureError("the background load sent no request within its warm-up", details=load.log_tail())


@dataclass(frozen=True)
class RunEvidence:
    """What one run gathered, handed to the judge at once (JSON only where it came in as JSON:
    the experiment, Chaos Toolkit's journal, the configuration, the recorded control)."""

    path: Path
    experiment: dict[str, Any]
    journal: dict[str, Any]
    run_id: str
    run_dir: Path
    config: dict[str, Any]
    started: float
    ended: float
    versions: dict[str, Any]
    recovery: Window | None
    interrupted: str = ""
    restored: tuple[str, ...] = ()
    control: UnderControl | None = None  # the negative control this run was made under
    tripped: abort.Tripped | None = None  # the stop condition that tripped
    not_back: str = ""  # why the stack did not come back after the rollbacks
    hidden: tuple[str, ...] = ()  # credentials given with --var: written as "[redacted]"


def _judge(ctx: RunContext, run: RunEvidence) -> Outcome:
    settings, progress, run_dir, journal = ctx.settings, ctx.progress, run.run_dir, run.journal
    results.merge_request_logs(run_dir)
    audit_found = ctx.target.audit_writes(ctx.driver, settings, run_dir / results.REQUEST_LOG, progress)
    stats = run_dir / "locust_stats.csv"
    totals = results.read_totals(stats) if stats.exists() else None  # verdict.json carries them
    window = claimlib.fault_window(journal) if journal else None
    found_timing = _timing(ctx, run_dir, journal, window, run.recovery, run.ended)
    progress.step("judging the claims over the fault window")
    recording = {**run.config, probes.RECORD: str(RunFiles(run_dir).claim_series)}  # for `devsim judge`
    found = claimlib.hypothesis_claims(journal) + claimlib.extension_claims(run.experiment, journal, window,
                                                                            recording, run.recovery)
    if run.not_back:
        found.append(claimlib.not_back(run.not_back, settings.up_timeout))
    tripped = run.tripped
    status, reason = judge.status(journal, found, run.interrupted, tripped.reason() if tripped else "")
    verdict = Verdict(
        run_id=run.run_id, experiment=str(run.experiment.get("title") or ""), file=str(run.path), status=status,
        reason=reason, claims=tuple(found), fault_window=window, recovery_window=run.recovery,
        journal_status=journal.get("status"),
        deviated=journal.get("deviated"),
        rollbacks=tuple(Rollback(str(r.get("activity", {}).get("name")), str(r.get("status")))
                        for r in journal.get("rollbacks", [])),
        safety_net=run.restored, load=dict(totals.figures() if totals else {}), audit=audit_found,
        started=run.started, ended=run.ended, versions=run.versions, control=run.control,
        abort=tripped.record() if tripped else None, timing=found_timing)
    verdict.write(RunFiles(run_dir))
    if journal:  # the journal says what the verdict says, as under plain `chaos run`
        controls.mark(journal, status, reason, [c.as_dict() for c in found])
        RunFiles(run_dir).journal.write_text(json.dumps(redact.scrub(journal, run.hidden), indent=2, default=str)
                                             + "\n")
    return Outcome(verdict, run_dir, interrupted=bool(run.interrupted))


def _timing(ctx: RunContext, run_dir: Path, journal: dict[str, Any], window: Window | None,
            recovery: Window | None, ended: float) -> timing.Timing | None:
    """Time to detect and to recover from the fault's start: the request log, then Prometheus."""
    settings, progress = ctx.settings, ctx.progress
    log = run_dir / results.REQUEST_LOG
    if window is None or not log.is_file():
        return None
    start, end = window.start, recovery.end if recovery else ended
    found = timing.client_timing_by_end(logindex.by_end(log), start, end)  # in a stream: a day's log is not held
    after = (journal.get("steady_states") or {}).get("after") or {}
    ends = [claimlib.journal_ts(p["end"]) for p in after.get("probes", []) if p.get("end")]
    steady_at = max(ends) if ends and after.get("steady_state_met") else None
    try:
        signals = ctx.target.server_signals()
        series = timing.sample_server(Prometheus(settings.prometheus_url).matrix, start, end, signals)
        found = timing.with_server(found, series, steady_at, signals)
    except InfrastructureError as exc:
        progress.warn(f"server-side detection times not read: {exc.one_line()}")
    d, r = found.detect, found.recover
    progress.step("time to detect (s): " + ", ".join(f"{k} {v}" for k, v in d.items())
                  + "; to recover: " + ", ".join(f"{k} {v}" for k, v in r.items()))
    return found


def ensure_stack(ctx: RunContext, no_up: bool) -> bool:
    """Boots the stack unless it is up; returns whether this run booted it. The command's
    driver: an engine that does not answer is one line and exit 2 here, before any load or
    fault."""
    driver, settings = ctx.driver, ctx.settings
    states = {s.name: s for s in stack_status(driver, settings)}
    expected = declared_services(settings.stack_dir)
    if states and all(n in states and states[n].healthy for n in expected):
        ctx.settings = ctx.target.meet(driver, settings)  # found up: its current CA is the one to verify
        return False
    if other := ctx.target.other_profile(driver):
        # Never replaced behind the user's back: a run that booted the stack takes it down at
        # its end, which would leave neither profile up. Switching is `devsim up`'s job.
        raise InfrastructureError(f"the stack {settings.stack!r} runs its {other} profile; experiments check "
                                  "the production profile's claims", hint="run `devsim up` to switch to it")
    if no_up:
        raise InfrastructureError(f"the stack {settings.stack!r} is not up", hint="run `devsim up`, or drop --no-up")
    lifecycle.up(driver, settings, ctx.target, ctx.progress)
    return True


def _not_finite(value: Any) -> bool:
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


HARNESS_KEYS = frozenset({*chaos_engine.for_settings(Settings()), "request_log"})  # what `configuration` sets


def parse_vars(pairs: list[str], files: list[Path]) -> dict[str, Any]:
    """--var k=v and --var-file F (JSON or YAML; a `configuration` key or a flat mapping)."""
    found: dict[str, Any] = {}
    for file in files:
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"cannot read --var-file {file}: {exc}") from exc
        if not isinstance(data, dict):
            raise UsageError(f"--var-file {file} must hold a mapping")
        found.update(data.get("configuration", data))
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--var expects KEY=VALUE, got {pair!r}")
        found[key] = value
    endless = sorted(k for k, v in found.items() if _not_finite(v))
    if endless:
        raise UsageError(f"--var {endless[0]}={found[endless[0]]}: a number must be finite")
    reserved = sorted(set(found) & HARNESS_KEYS)
    if reserved:
        raise UsageError(f"--var {reserved[0]}: the harness sets it from its settings (DEVSIM_*), for the stack "
                         "it runs against; a variable cannot re-aim the run")
    return found
