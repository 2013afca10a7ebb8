"""Faults meet one clear line and exit 2, and leave nothing of a second stack behind."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import devsim, explain

pytestmark = pytest.mark.docker

OTHER = {"DEVSIM_STACK": "devsimfault", "DEVSIM_LB_PORT": "18080", "DEVSIM_LB_TLS_PORT": "18443",
         "DEVSIM_PROMETHEUS_PORT": "19090", "DEVSIM_PUSHGATEWAY_PORT": "19091", "DEVSIM_MAILSINK_PORT": "18025"}


@pytest.fixture
def other_stack(machine_lock: None) -> Iterator[dict[str, str]]:
    """A second, throw-away stack on other ports; removed whatever the test did."""
    yield dict(OTHER)
    done = devsim("down", "--volumes", "--yes", env=OTHER)
    assert done.returncode == 0, explain(done)


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("devsim: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_port_taken_is_reported_before_anything_is_built(other_stack: dict[str, str]) -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 18080))
        holder.listen()
        done = devsim("up", env=other_stack)
    assert done.returncode == 2, explain(done)
    assert one_error_line(done.stderr) == (
        "devsim: error: port 18080 is already in use on this host (free it or set DEVSIM_LB_PORT)"
    )
    assert "building" not in done.stderr


def test_failing_build_names_the_step_and_shows_the_log(other_stack: dict[str, str], stack_copy: Path) -> None:
    dockerfile = stack_copy / "cache" / "Dockerfile"
    text = dockerfile.read_text().replace("USER redis", "RUN echo 'about to fail' && exit 3\nUSER redis")
    dockerfile.write_text(text)
    instructions = [line for line in text.splitlines() if line[:1].isalpha()]  # not comments, not continuations
    failing = instructions.index("RUN echo 'about to fail' && exit 3") + 1
    done = devsim("up", env={**other_stack, "DEVSIM_STACK_DIR": str(stack_copy)})
    assert done.returncode == 2, explain(done)
    line = one_error_line(done.stderr)
    assert f"building devsimfault/cache:latest failed at step {failing}/" in line
    assert "returned a non-zero code: 3" in line
    assert "about to fail" in done.stderr  # the tail of the build log


def test_service_never_healthy_is_named_with_its_logs(other_stack: dict[str, str], stack_copy: Path) -> None:
    entrypoint = stack_copy / "db" / "entrypoint.sh"
    entrypoint.write_text(entrypoint.read_text().replace(
        "set -euo pipefail", "set -euo pipefail\necho 'db refuses to start' >&2; exit 1"))
    env = {**other_stack, "DEVSIM_STACK_DIR": str(stack_copy), "DEVSIM_UP_TIMEOUT": "25"}
    done = devsim("up", "--replicas", "1", env=env)
    assert done.returncode == 2, explain(done)
    line = one_error_line(done.stderr)
    assert re.search(r"service 'db[123]' did not become healthy within 25 s", line), line
    assert "db refuses to start" in done.stderr
