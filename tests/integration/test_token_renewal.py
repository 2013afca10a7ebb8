"""The load generator renews its OAuth2 token before it expires (as a client does with
`expires_in`), so a soak longer than the token lifetime reports no 401s that are its own.

Plain Locust with the project's locustfile against the real stack, tokens asked for with a
6 s lifetime; the control keeps each token until it is refused and must meet the expiry."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import PROJECT_ROOT, Settings
from harness.driver import driver_for
from harness.load.runner import stack_env
from harness.target import secrets

pytestmark = pytest.mark.docker

LIFETIME_S = 6
RUN_S = 14


def start(run_dir: Path, settings: Settings, renewal: str) -> subprocess.Popen[str]:
    """The bare Locust CLI, given what `devsim load` gives it: the stack's CA and OAuth2 client."""
    run_dir.mkdir()
    env = stack_env(secrets.client_secret(driver_for(settings.stack)), settings.ca_file)
    return subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(PROJECT_ROOT / "loadtests" / "locustfile.py"), "--headless",
         "--host", settings.lb_url, "--users", "3", "--spawn-rate", "3", "--run-time", f"{RUN_S}s",
         "--stop-timeout", "5", "--only-summary", "--csv", str(run_dir / "run"), "--exit-code-on-error", "0",
         "--token-lifetime", str(LIFETIME_S), "--token-renewal", renewal],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def stats_of(run_dir: Path, proc: subprocess.Popen[str]) -> dict[str, dict[str, int]]:
    """{request name: {"requests": n, "failures": n}} from Locust's own stats CSV."""
    output, _ = proc.communicate(timeout=RUN_S + 60)
    assert proc.returncode == 0, output[-2000:]
    with (run_dir / "run_stats.csv").open(newline="") as fh:
        return {r["Name"]: {"requests": int(r["Request Count"]), "failures": int(r["Failure Count"])}
                for r in csv.DictReader(fh)}


def failure_messages(run_dir: Path) -> list[str]:
    with (run_dir / "run_failures.csv").open(newline="") as fh:
        return [r["Error"] for r in csv.DictReader(fh)]


def test_tokens_are_renewed_before_they_expire_and_the_control_meets_the_expiry(stack: Settings,
                                                                                tmp_path: Path) -> None:
    """Both runs at once (3 users each), so the pair costs one run's time."""
    renewing, keeping = tmp_path / "on", tmp_path / "off"
    procs = {renewing: start(renewing, stack, "on"), keeping: start(keeping, stack, "off")}
    stats = {run_dir: stats_of(run_dir, proc) for run_dir, proc in procs.items()}

    on = stats[renewing]
    assert on["GET /api/me"]["requests"] > 20
    assert on["GET /api/me"]["failures"] == 0, failure_messages(renewing)
    # three users, each renewing at least once a lifetime over the run: more than one token each
    assert on["POST /api/auth/token"]["requests"] >= 3 * (RUN_S // LIFETIME_S)
    assert on["POST /api/auth/token"]["failures"] == 0

    off = stats[keeping]
    assert off["GET /api/me"]["failures"] >= 3, "each of the 3 users must see its expired token refused"
    assert any("token refused (HTTP 401)" in m for m in failure_messages(keeping))
