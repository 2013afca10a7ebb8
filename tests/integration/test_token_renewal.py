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

pytestmark = pytest.mark.docker

LIFETIME_S = 6
RUN_S = 14


def locust(run_dir: Path, settings: Settings, renewal: str) -> dict[str, dict[str, int]]:
    """{request name: {"requests": n, "failures": n}} from Locust's own stats CSV."""
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(PROJECT_ROOT / "loadtests" / "locustfile.py"), "--headless",
         "--host", settings.lb_url, "--users", "3", "--spawn-rate", "3", "--run-time", f"{RUN_S}s",
         "--stop-timeout", "5", "--only-summary", "--csv", str(run_dir / "run"), "--exit-code-on-error", "0",
         "--token-lifetime", str(LIFETIME_S), "--token-renewal", renewal],
        capture_output=True, text=True, timeout=RUN_S + 60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    with (run_dir / "run_stats.csv").open(newline="") as fh:
        return {r["Name"]: {"requests": int(r["Request Count"]), "failures": int(r["Failure Count"])}
                for r in csv.DictReader(fh)}


def failure_messages(run_dir: Path) -> list[str]:
    with (run_dir / "run_failures.csv").open(newline="") as fh:
        return [r["Error"] for r in csv.DictReader(fh)]


def test_tokens_are_renewed_before_they_expire(stack: Settings, tmp_path: Path) -> None:
    stats = locust(tmp_path, stack, "on")
    assert stats["GET /api/me"]["requests"] > 20
    assert stats["GET /api/me"]["failures"] == 0, failure_messages(tmp_path)
    # three users, each renewing at least once a lifetime over the run: more than one token each
    assert stats["POST /api/auth/token"]["requests"] >= 3 * (RUN_S // LIFETIME_S)
    assert stats["POST /api/auth/token"]["failures"] == 0


def test_control_tokens_kept_until_refused_meet_the_expiry(stack: Settings, tmp_path: Path) -> None:
    stats = locust(tmp_path, stack, "off")
    assert stats["GET /api/me"]["failures"] >= 3, "each of the 3 users must see its expired token refused"
    assert any("token refused (HTTP 401)" in m for m in failure_messages(tmp_path))
