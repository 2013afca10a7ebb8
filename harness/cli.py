"""The `devsim` command: parse, call one function per command, map errors to exit codes."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from harness import database_commands, offline_commands, status_command
from harness.config import load_settings, parse_overrides, validate
from harness.confirm import confirm
from harness.context import RunContext
from harness.deploy import rollout
from harness.deploy.guard import GuardPolicy
from harness.driver import StackDriver
from harness.errors import HarnessError, UsageError
from harness.experiment import run as experiment_run
from harness.experiment import series, summary
from harness.experiment.validate import validate as validate_experiment
from harness.load import session as load_session
from harness.load import shapes, slo
from harness.progress import Progress
from harness.report import history, render
from harness.runs import RunFiles
from harness.stack import lifecycle, switches
from harness.stack.services import declared_services
from harness.tables import services_table
from harness.target import development
from harness.target.devsim import DevsimStack, up_development
from harness.verdict import junit
from harness.version import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (not argparse's usage block) and never a traceback,
    and takes no abbreviated option: a typo such as `--prov` is an error, not `--prove`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        self._given = list(sys.argv[1:] if args is None else args)  # for error()'s suggestion
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            message += _did_you_mean(message.split(":", 1)[1].split(), self._options())
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")

    def _options(self) -> set[str]:
        """The long options of this parser and of the command given (every command's when
        none was): `up --volume` is not answered with `down`'s --volumes."""
        def long(parser: argparse.ArgumentParser) -> set[str]:
            return {o for a in parser._actions for o in a.option_strings if o.startswith("--")}
        found = long(self)
        given = getattr(self, "_given", [])
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                named = [action.choices[word] for word in given if word in action.choices][:1]
                for sub in named or action.choices.values():
                    found |= long(sub)
        return found


def _did_you_mean(given: list[str], options: set[str]) -> str:
    """"; did you mean --keep-up?" for the unknown options closest to a known one ("" if none)."""
    near = [m[0] for word in given if word.startswith("--")
            if (m := difflib.get_close_matches(word.split("=", 1)[0], sorted(options), n=1, cutoff=0.75))]
    return f"; did you mean {', '.join(dict.fromkeys(near))}?" if near else ""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="devsim", description="Chaos and load-testing harness for the DevOps Simulator stack.")
    parser.add_argument("--version", action="version", version=f"devsim {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks and error details")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="build the images, deploy the stack and wait until it serves")
    up.add_argument("--profile", choices=development.PROFILES, default="production",
                    help="production (default): the whole stack under Swarm; development: one app with hot "
                    "reload and a debugger on 127.0.0.1:9229, one seeded PostgreSQL, CORS open, debug endpoints")
    up.add_argument("--replicas", type=int, help="app replicas (default 3)")
    up.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                    help="set a stack.yml variable, e.g. APP_GRACEFUL_SHUTDOWN=false (repeatable)")

    status = sub.add_parser("status", help="each service with desired and ready replicas, image and endpoints")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    down = sub.add_parser("down", help="remove the stack and wait until it is gone")
    down.add_argument("--volumes", action="store_true",
                      help="remove the stack's volumes (databases, the backup repository) and secrets too; "
                           "the offsite backup repository stays unless --offsite is given")
    down.add_argument("--offsite", action="store_true",
                      help="with --volumes: remove the offsite backup repository too (its backups are lost)")
    down.add_argument("--yes", action="store_true", help="with --volumes: do not ask (needed without a terminal)")
    load = sub.add_parser("load", help="a headless load test with SLO gates (exit 1 when an SLO is breached)",
                          description="Runs Locust headless against the stack's load balancer and judges SLOs. "
                          + slo.GRAMMAR)
    load.add_argument("--users", type=int, default=20, help="concurrent users (default 20)")
    load.add_argument("--spawn-rate", type=float, default=10.0, help="users started per second (default 10)")
    load.add_argument("--run-time", default="60s", help="how long, e.g. 20s, 2m (default 60s)")
    load.add_argument("--shape", choices=sorted(shapes.BUILT_IN), metavar="NAME",
                      help="a load shape over --run-time peaking at --users: " + ", ".join(sorted(shapes.BUILT_IN)))
    load.add_argument("--shape-file", type=Path, metavar="PATH",
                      help="a load shape from a table, a stage a line: 'duration users spawn-rate [phase]'")
    load.add_argument("--rate-per-user", type=float, default=0.0, metavar="R",
                      help="an arrival rate: each user starts R requests a second whatever the answers' time "
                           "(Locust's constant throughput); the summary shows the rate intended and achieved")
    load.add_argument("--slo", action="append", default=[], metavar="EXPR",
                      help=f"an SLO such as p95<250ms (repeatable; default {' '.join(slo.DEFAULT_SLOS)})")
    load.add_argument("--junit", type=Path, metavar="PATH", help="write a JUnit XML file, one test case per SLO")
    load.add_argument("--json", action="store_true", help="print the summary as JSON on stdout, not a table")
    load.add_argument("--workers", type=int, default=0, help="Locust worker processes (distributed mode)")
    load.add_argument("--locustfile", type=Path, default=load_session.DEFAULT_LOCUSTFILE, metavar="PATH")
    load.add_argument("locust_args", nargs="*", metavar="-- LOCUST_OPTION",
                      help="after --, options passed to Locust as they are (e.g. -- --tags write --loglevel DEBUG); "
                           "a locust.conf in the current folder is read too")
    run = sub.add_parser("run", help="run Chaos Toolkit experiments under load and judge their claims",
                         description="Exit 0 when every claim holds, 1 when one fails, 2 when an experiment is "
                         "invalid or the infrastructure failed.")
    run.add_argument("experiments", nargs="+", type=Path, metavar="EXPERIMENT")
    run.add_argument("--var", action="append", default=[], metavar="KEY=VALUE", help="a configuration value")
    run.add_argument("--var-file", action="append", default=[], type=Path, metavar="FILE",
                     help="configuration values from a JSON or YAML file")
    run.add_argument("--no-up", action="store_true", help="fail instead of booting the stack when it is not up")
    run.add_argument("--keep-up", action="store_true", help="leave a stack this run booted up at the end")
    run.add_argument("--load-users", type=int, default=10, help="background load users (default 10)")
    run.add_argument("--junit", type=Path, metavar="PATH", help="write a JUnit XML file, one test case per claim")
    run.add_argument("--json", action="store_true", help="print one JSON summary on stdout instead of tables")
    run.add_argument("--prove", action="store_true", help="run each experiment as shipped, then under each negative "
                     "control it declares, and show each claim's power (a claim that holds under its control is "
                     "vacuous)")
    run.add_argument("--repeat", type=int, default=1, metavar="N",
                     help="run each experiment N times: per claim passes out of N, median/min/max, flaky")

    dep = sub.add_parser("deploy", help="roll the app to a release: health-gated, guarded, rolled back on failure",
                         description="Exit 0 when the release is live and healthy, 1 when it was rolled back "
                         "(or Swarm paused it), saying why, 2 on errors.")
    dep.add_argument("version", metavar="VERSION", help="a built release: v1, v2, or a broken build (v2-errors, ...)")
    dep.add_argument("--watch", action="store_true", help="print the guard's figures every second")
    dep.add_argument("--no-guard", action="store_true", help="Swarm's own rollback only (crashes, failed health)")
    dep.add_argument("--max-error-ratio", type=float, default=0.05, metavar="R",
                     help="roll back when the new release's error ratio exceeds R (default 0.05)")
    dep.add_argument("--max-p95", default="1s", metavar="DURATION",
                     help="roll back when the new release's p95 exceeds this (default 1s; e.g. 800ms) ...")
    dep.add_argument("--p95-for", default="12s", metavar="DURATION",
                     help="... for this long (default 12s: longer than the guard's 10 s window, so a burst "
                     "of slow seconds on a busy machine does not roll back a good release)")
    dep.add_argument("--watch-after", default="20s", metavar="DURATION",
                     help="how long the guard keeps watching after the rollout completed (default 20s)")

    database_commands.add_parsers(sub)
    offline_commands.add_parsers(sub)

    report = sub.add_parser("report", help="re-render a run's HTML report from its files, or the index of all runs")
    report.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR")
    report.add_argument("--index", action="store_true", help="re-render reports/index.html from the run history")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(os.environ)
        if args.command == "up":
            if args.profile == "development" and (args.replicas is not None or args.overrides):
                given = "--replicas" if args.replicas is not None else "--set"
                raise UsageError(f"--profile development runs one app instance with no switches; it takes no {given}")
            settings = settings.replace(replicas=args.replicas, overrides=parse_overrides(args.overrides) or None)
            validate(settings)
            switches.check(switches.load(settings.stack_dir), settings.stack_overrides)
        ctx = RunContext(settings, DevsimStack(), Progress(quiet=args.quiet))
        if args.command in ("load", "deploy", "status", "backup", "restore"):
            meet_the_running_stack(ctx)  # `run`: ensure_stack writes the CA of the stack it finds or boots
        return _COMMANDS[args.command](ctx, args)
    except HarnessError as exc:
        print(f"devsim: error: {exc.one_line()}", file=sys.stderr)
        if args.verbose:
            for line in exc.details:
                print(f"  | {line}", file=sys.stderr)
            traceback.print_exc()
        elif exc.details:
            for line in exc.details[-10:]:
                print(f"  | {line}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # `devsim status | head`: the reader left; end quietly, as Unix tools do on SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (KeyboardInterrupt, experiment_run.Interrupted) as exc:
        # Ctrl-C or SIGTERM outside a run's own handling (booting the stack, rendering the
        # report): exit 2, as for every run that did not come to a verdict
        name = "SIGINT" if isinstance(exc, KeyboardInterrupt) else str(exc)
        print(f"devsim: error: interrupted ({name})", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # what no code path expects: one line and exit 2, never 1 (a claim failed)
        print(f"devsim: error: this is a bug: {type(exc).__name__}: {str(exc)[:300]}"
              + ("" if args.verbose else " (--verbose shows the traceback)"), file=sys.stderr)
        if args.verbose:
            traceback.print_exc()
        return EXIT_ERROR


def meet_the_running_stack(ctx: RunContext) -> None:
    """The settings to reach the stack that runs (the target stack's wing says: the
    development profile over plain HTTP, the production profile over HTTPS verified against
    the stack's CA, written to the CA file the command's HTTP session and Locust verify with).
    Nothing running (or no engine): the command says so itself."""
    with contextlib.suppress(HarnessError):
        ctx.settings = ctx.target.meet(ctx.driver, ctx.settings)


def cmd_up(ctx: RunContext, args: argparse.Namespace) -> int:
    if args.profile == "development":
        deployment = up_development(ctx.driver, ctx.settings, ctx.progress)
        print(services_table(list(deployment.services)))
        print(f"\napp:         {deployment.lb_url} (hot reload from {development.app_source(ctx.settings)})"
              f"\ninspector:   127.0.0.1:{development.INSPECTOR_PORT} (chrome://inspect)"
              f"\nPrometheus:  {deployment.prometheus_url}")
        return EXIT_OK
    deployment = lifecycle.up(ctx.driver, ctx.settings, ctx.target, ctx.progress)
    print(services_table(list(deployment.services)))
    print(f"\napp (load balancer): {deployment.lb_url}\nPrometheus:          {deployment.prometheus_url}")
    return EXIT_OK


def cmd_down(ctx: RunContext, args: argparse.Namespace) -> int:
    if args.offsite and not args.volumes:
        raise UsageError("--offsite removes a volume: give it with --volumes")
    kept = {} if args.offsite else ctx.target.kept_volumes  # {the flag that removes it: short name}
    engine_name = {name: f"{ctx.settings.stack}_{short}" for name, short in kept.items()}
    if args.volumes:
        command = "devsim down --volumes" + (" --offsite" if args.offsite else "")
        confirm(command, lambda: [f"volume {v}" for v in ctx.driver.volumes() if v not in engine_name.values()]
                + [f"{len(ctx.driver.secrets()) + len(ctx.driver.configs())} secrets and configs"], args.yes)
    there = set(ctx.driver.volumes()) if args.volumes else set()
    removed = lifecycle.down(ctx.driver, ctx.settings, ctx.target, ctx.progress, volumes=args.volumes,
                             keep=list(kept.values()))
    what = "stack and volumes" if args.volumes else "stack"
    services = [r for r in removed if r.endswith(("services", "containers"))]
    print(f"{what} {ctx.settings.stack!r} removed" if services else f"stack {ctx.settings.stack!r} was not up")
    for line in removed:
        if line not in services:
            print(f"removed {line}")
    for name, volume in sorted(engine_name.items()):
        if volume in there:
            print(f"kept volume {volume} (`devsim down --volumes --{name}` removes it too)")
    return EXIT_OK


def _reachable(ctx: RunContext) -> StackDriver | None:
    """The stack's driver when an engine answers; a load test of a target elsewhere needs none."""
    try:
        ctx.driver.services()
    except HarnessError:
        return None
    return ctx.driver


def cmd_load(ctx: RunContext, args: argparse.Namespace) -> int:
    users, run_time = args.users, load_session.parse_duration(args.run_time)
    stages = shapes.chosen(args.shape, args.shape_file, users, run_time)
    if stages:
        users, run_time = max(max(s.users for s in stages), 1), shapes.total_seconds(stages)
    options = load_session.LoadOptions(
        users=users, spawn_rate=args.spawn_rate, run_time=run_time,
        slos=tuple(args.slo), junit=args.junit, workers=args.workers, locustfile=args.locustfile,
        locust_args=tuple(args.locust_args),
        config=Path("locust.conf").resolve() if Path("locust.conf").is_file() else None, shape=tuple(stages),
        rate_per_user=args.rate_per_user,
    )
    driver = _reachable(ctx)
    client = ctx.target.load_client(driver) if driver is not None else None
    outcome = load_session.run_load(ctx.settings, ctx.http, options, ctx.progress, driver, client,
                                     ctx.target.report_series())
    page = render.publish_after_run(outcome.run_dir, ctx.settings.reports_dir, ctx.progress)
    if args.json:
        summary = json.loads(RunFiles(outcome.run_dir).summary.read_text())
        print(json.dumps({**summary, "run_dir": str(outcome.run_dir), "report": str(page) if page else None},
                         indent=2))
    else:
        print(outcome.table)
        print(f"\n{'passed' if outcome.passed else 'FAILED'}: {page or outcome.run_dir}")
    return EXIT_OK if outcome.passed else EXIT_FAILED


def cmd_run(ctx: RunContext, args: argparse.Namespace) -> int:
    if not 1 <= args.load_users <= load_session.MAX_USERS:
        raise UsageError(f"--load-users must be between 1 and {load_session.MAX_USERS}")
    series.check_repeat(args.repeat)
    if args.prove and args.repeat > 1:
        raise UsageError("--prove and --repeat cannot be combined yet; run them one after the other")
    services = declared_services(ctx.settings.stack_dir)
    declared = switches.load(ctx.settings.stack_dir)
    experiments = [(path, validate_experiment(path, services, declared)) for path in args.experiments]
    for path, experiment in experiments if args.prove else []:
        series.check_provable(path, experiment)
    options = experiment_run.RunOptions(variables=experiment_run.parse_vars(args.var, args.var_file),
                                        load_users=args.load_users)
    experiment_run.install_signal_handlers()
    booted = experiment_run.ensure_stack(ctx, args.no_up)
    worst = EXIT_OK
    done: list[tuple[experiment_run.Outcome, Path | None]] = []
    summaries: list[dict[str, Any]] = []
    try:
        for path, experiment in experiments:
            if args.repeat > 1:
                found = series.repeat(ctx, path, experiment, options, args.repeat)
                done += [(o, None) for o in found.outcomes]
                summaries.append(summary.trials(path, found))
                if not args.json:
                    print(summary.trials_table(found))
                    print(f"{found.status.upper()}: {path.name}: {found.reason}\n  {found.file}\n")
                worst, stop = max(worst, found.exit_code), found.interrupted
            else:
                run = series.prove if args.prove else experiment_run.run_one
                outcome = run(ctx, path, experiment, options)
                page = render.publish_after_run(outcome.run_dir, ctx.settings.reports_dir, ctx.progress)
                done.append((outcome, page))
                summaries.append(summary.run(outcome, page))
                if not args.json:
                    print(summary.claims_table(outcome))
                    print(f"{outcome.status.upper()}: {path.name}: {outcome.reason}\n  {page or outcome.run_dir}\n")
                worst, stop = max(worst, outcome.verdict.exit_code), outcome.interrupted
            if args.junit:  # after each experiment: an interrupted series still leaves its file
                junit.write(args.junit, [o.verdict for o, _ in done])
            if stop:
                break
    finally:
        if booted and not args.keep_up:
            lifecycle.down(ctx.driver, ctx.settings, ctx.target, ctx.progress)
    if args.json:
        print(json.dumps(summaries, indent=2, default=str))
    return worst


def cmd_deploy(ctx: RunContext, args: argparse.Namespace) -> int:
    if not 0 <= args.max_error_ratio <= 1:
        raise UsageError("--max-error-ratio must be between 0 and 1")
    policy = None if args.no_guard else GuardPolicy(
        max_error_ratio=args.max_error_ratio, max_p95_s=slo.parse(f"p95<{args.max_p95}").threshold / 1000,
        p95_for_s=load_session.parse_duration(args.p95_for, "--p95-for"),
        watch_after_s=load_session.parse_duration(args.watch_after, "--watch-after"))
    result = rollout.deploy(ctx.driver, ctx.settings.prometheus_url, args.version, policy,
                            service=ctx.target.release_service, on_step=ctx.progress.step,
                            on_watch=ctx.progress.update if args.watch else None)
    ctx.progress.done()
    if result.outcome == "live":
        print(f"LIVE: {result.version} ({result.reason}; {result.seconds:.1f} s)")
        return EXIT_OK
    restored = f"; {result.previous} serving again after {result.restored_s:.1f} s" if result.restored_s else ""
    print(f"{result.outcome.upper()}: {result.version}: {result.reason}{restored}")
    return EXIT_FAILED


def cmd_report(ctx: RunContext, args: argparse.Namespace) -> int:
    if not args.run_dirs and not args.index:
        raise UsageError("name a run folder, or pass --index", hint="e.g. devsim report reports/<run-id>")
    skipped = 0
    for run_dir in args.run_dirs:
        try:
            run, page = render.render_run(run_dir)
        except UsageError as exc:
            if len(args.run_dirs) == 1:
                raise
            ctx.progress.warn(f"skipped: {exc.one_line()}")  # e.g. `devsim report reports/*/` over odd folders
            skipped += 1
            continue
        history.record(ctx.settings.reports_dir, run)
        print(f"{run.status}: {page}")
    print(f"index: {render.render_index(ctx.settings.reports_dir)}")
    return EXIT_ERROR if skipped == len(args.run_dirs) > 0 else EXIT_OK


_COMMANDS = {"up": cmd_up, "status": status_command.cmd_status, "down": cmd_down, "load": cmd_load, "run": cmd_run,
             "report": cmd_report, **database_commands.COMMANDS, **offline_commands.COMMANDS,
             "deploy": cmd_deploy}


if __name__ == "__main__":
    sys.exit(main())
