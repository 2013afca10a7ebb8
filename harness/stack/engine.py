"""Access to the Docker engine: the SDK client, Swarm checks, and one run() for the CLI."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

import docker
from docker.errors import DockerException

from harness.errors import CommandFailed, EngineUnavailable

SETUP_HINT = "run `bash scripts/setup.sh` as root to install and start it"


def connect(timeout: int = 60) -> Any:
    """A Docker SDK client for the engine named by DOCKER_HOST (or the local socket)."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        reason = str(exc).splitlines()[0][:200]
        raise EngineUnavailable(f"cannot reach the Docker engine: {reason}", hint=SETUP_HINT) from exc
    return client


def ensure_swarm_manager(client: Any) -> None:
    swarm = client.info().get("Swarm", {})
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        raise EngineUnavailable(
            "this Docker engine is not a Swarm manager",
            hint="run `docker swarm init --advertise-addr 127.0.0.1`",
        )


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs one external command (an argv list, never a shell string); raises CommandFailed."""
    if shutil.which(argv[0]) is None:
        raise EngineUnavailable(f"`{argv[0]}` is not installed", hint=SETUP_HINT)
    try:
        done = subprocess.run(
            list(argv), env=dict(env) if env is not None else None, capture_output=True,
            text=True, timeout=timeout, input=input_text, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(argv, -1, "", f"timed out after {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise CommandFailed(argv, done.returncode, done.stdout, done.stderr)
    return done
