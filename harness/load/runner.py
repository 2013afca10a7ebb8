"""Locust as child processes (never imported here: its gevent patching clashes with threads).

A LocustProcess starts one local Locust, or a master and N workers (Locust's own distributed
mode), all writing into one run folder, and stops them with SIGINT so that Locust still
writes its CSV and HTML reports.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.config import PROJECT_ROOT
from harness.errors import InfrastructureError, UsageError
from harness.load import shapes
from harness.load.results import REQUEST_LOG

CSV_PREFIX = "locust"
RATE_ENV = "DEVSIM_RATE_PER_USER"  # the locustfile's arrival rate, tasks a second per user
SHAPES_FILE = PROJECT_ROOT / "loadtests" / "shapes.py"  # the plain Locust shape that follows a plan's stages


@dataclass(frozen=True)
class LoadPlan:
    """Everything one Locust run needs; `run_time` None means until stopped."""

    locustfile: Path
    host: str
    users: int
    spawn_rate: float
    run_time: float | None
    run_dir: Path
    run_id: str
    workers: int = 0
    pushgateway: str | None = None
    sample: float = 1.0
    extra: tuple[str, ...] = ()  # the user's own Locust options, after the harness's
    config: Path | None = None  # a locust.conf, read first (every command-line option overrides it)
    client: tuple[str, str] | None = None  # the OAuth2 client (id, secret) the users get tokens with
    ca_file: Path | None = None  # the stack's CA, for HTTPS
    shape: str = ""  # a load shape's stages (harness.load.shapes, JSON): users and run time come from them
    rate_per_user: float = 0.0  # an arrival rate (tasks a second per user); 0: as fast as the answers come

    @property
    def stats_csv(self) -> Path:
        return self.run_dir / f"{CSV_PREFIX}_stats.csv"

    @property
    def history_csv(self) -> Path:
        return self.run_dir / f"{CSV_PREFIX}_stats_history.csv"

    @property
    def request_log(self) -> Path:
        return self.run_dir / REQUEST_LOG


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def locust_argv(plan: LoadPlan, role: str = "local", master_port: int = 0) -> list[str]:
    """The command line of one Locust process; role is local, master or worker."""
    argv = [sys.executable, "-m", "locust", *(["--config", str(plan.config)] if plan.config else []),
            "-f", str(plan.locustfile) + (f",{SHAPES_FILE}" if plan.shape else ""), "--host", plan.host,
            "--request-log", str(plan.request_log), "--request-log-sample", str(plan.sample),
            "--run-id", plan.run_id, "--loglevel", "INFO"]
    if plan.pushgateway:
        argv += ["--pushgateway", plan.pushgateway]
    if role == "worker":
        return [*argv, "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port), *plan.extra]
    argv += ["--headless", "--users", str(plan.users), "--spawn-rate", f"{plan.spawn_rate:g}",
             "--csv", str(plan.run_dir / CSV_PREFIX), "--html", str(plan.run_dir / "locust.html"),
             "--exit-code-on-error", "0", "--stop-timeout", "5", "--only-summary"]
    if plan.run_time is not None:
        argv += ["--run-time", f"{int(plan.run_time)}s"]
    if role == "master":
        argv += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
                 "--expect-workers", str(plan.workers), "--expect-workers-max-wait", "30"]
    return [*argv, *plan.extra]


# Locust options the harness sets itself, with the devsim option to use instead ("" when the
# harness needs it as it is): passing them through would break the run's files or its mode.
HARNESS_OWNED = {
    "-f": "--locustfile", "--locustfile": "--locustfile", "-H": "", "--host": "", "-u": "--users",
    "--users": "--users", "-r": "--spawn-rate", "--spawn-rate": "--spawn-rate", "-t": "--run-time",
    "--run-time": "--run-time", "--headless": "", "--autostart": "", "--csv": "", "--csv-full-history": "",
    "--html": "", "--json": "", "--only-summary": "", "--exit-code-on-error": "", "--master": "--workers",
    "--worker": "--workers", "--processes": "--workers", "--master-host": "", "--master-port": "",
    "--master-bind-host": "", "--master-bind-port": "", "--expect-workers": "--workers",
    "--expect-workers-max-wait": "", "--config": "a locust.conf in the current folder", "--request-log": "",
    "--request-log-sample": "", "--run-id": "", "--pushgateway": "", "--stop-timeout": "",
}


def check_extra(extra: Sequence[str]) -> None:
    """Refuses a pass-through option the harness owns, naming what to use instead."""
    for arg in extra:
        name = arg.split("=", 1)[0]
        if len(name) > 2 and name[0] == "-" and name[1] != "-":  # `-u5`: a short option with its value attached
            name = name[:2]
        if name in HARNESS_OWNED:
            instead = HARNESS_OWNED[name]
            hint = f"devsim load's own {instead} sets it" if instead.startswith("--") else (
                f"use {instead}" if instead else "the harness sets it for every run")
            raise UsageError(f"Locust option {name} cannot be passed through ({hint})")


def default_sigint() -> None:
    """preexec_fn for children that must honour Ctrl-C even when we were started with it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def load_child() -> None:
    """preexec_fn of a Locust process: Ctrl-C at its default, and SIGTERM when the harness dies
    without stopping it (killed with SIGKILL, say), so that no load outlives the run that
    started it. It runs in its own session, so a Ctrl-C in the terminal reaches the harness,
    which stops it in order."""
    default_sigint()
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the run time still bounds the load
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stack_env(client: tuple[str, str] | None, ca_file: Path | None) -> dict[str, str]:
    """Locust's environment for the stack: the OAuth2 client (a secret: in the environment of
    Locust only, never on its command line) and the CA its HTTPS is verified against."""
    env = dict(os.environ)
    if client is not None:
        env.update(DEVSIM_CLIENT_ID=client[0], DEVSIM_CLIENT_SECRET=client[1])
    if ca_file is not None:
        env["DEVSIM_CA_FILE"] = str(ca_file)
    return env


class LocustProcess:
    """The Locust child processes of one run; a context manager that always stops them."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def __enter__(self) -> LocustProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, argv: list[str], log_name: str) -> None:
        log = (self.plan.run_dir / log_name).open("wb")
        self._logs.append(log)
        env = {**stack_env(self.plan.client, self.plan.ca_file), "PYTHONUNBUFFERED": "1"}
        if self.plan.shape:
            env.update({shapes.ENV: self.plan.shape, shapes.LOG_ENV: str(self.plan.run_dir / shapes.LOG)})
        if self.plan.rate_per_user:
            env[RATE_ENV] = f"{self.plan.rate_per_user:g}"
        # Its own session (a Ctrl-C in the terminal reaches the harness, which decides), and
        # SIGINT back to its default: a shell starting us in the background ignores it, and
        # the ignore would be inherited.
        self._procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            cwd=self.plan.run_dir, start_new_session=True,
                                            preexec_fn=load_child))

    def start(self) -> None:
        if self.plan.workers > 0:
            port = _free_port()
            self._spawn(locust_argv(self.plan, "master", port), "locust.log")
            for n in range(self.plan.workers):
                self._spawn(locust_argv(self.plan, "worker", port), f"locust-worker-{n + 1}.log")
        else:
            self._spawn(locust_argv(self.plan), "locust.log")

    @property
    def main(self) -> subprocess.Popen[bytes]:
        return self._procs[0]

    def running(self) -> bool:
        return self.main.poll() is None

    def wait(self, timeout: float) -> int:
        """Waits for the headless run to end by itself; stops it when it overstays."""
        try:
            code = self.main.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise InfrastructureError(
                f"Locust did not finish within {timeout:.0f} s and was stopped",
                details=self.log_tail(),
            ) from None
        self._wait_workers()
        return code

    def _wait_workers(self) -> None:
        for proc in self._procs[1:]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def stop(self, grace: float = 20.0) -> None:
        """SIGINT, Locust's Ctrl-C (it then writes its CSV and HTML reports; on SIGTERM it
        exits without the HTML one), SIGKILL after `grace` seconds."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace
        for proc in self._procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def log_tail(self, lines: int = 15) -> list[str]:
        path = self.plan.run_dir / "locust.log"
        try:
            return path.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return []
