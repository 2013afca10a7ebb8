"""Runs after every other production-stack test (conftest orders it):
`devsim down --volumes` leaves nothing with the stack's label behind. What a plain `down`
keeps, and `up` after it, are steps of the Quick start journey (test_journeys.py), which
runs just before."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from harness.config import Settings
from tests.integration.conftest import devsim, explain, objects_of

pytestmark = pytest.mark.docker



def test_down_with_volumes_leaves_nothing(stack: Settings, tmp_path: Path, another_stack: str) -> None:
    others = objects_of(another_stack)
    # an earlier build of the load balancer: labelled as the stack's, with a content tag only
    client = docker.from_env()
    (tmp_path / "Dockerfile").write_text("FROM debian:bookworm-slim\nLABEL devsim.stack=" + stack.stack + "\n")
    old_tag = f"{stack.stack}/lb:latest-000000000000"
    client.images.build(path=str(tmp_path), tag=old_tag, rm=True)
    done = devsim("down", "--volumes")
    assert done.returncode == 0, explain(done)
    assert "outdated image tags" in done.stdout
    tags = {t for i in client.images.list(filters={"label": f"devsim.stack={stack.stack}"}) for t in i.tags}
    assert old_tag not in tags
    # the current builds stay, so the next up is warm
    assert {f"{stack.stack}/lb:latest", f"{stack.stack}/app:v1", f"{stack.stack}/app:v2-crash"} <= tags
    client.images.get("debian:bookworm-slim")  # the base image stays
    assert objects_of(stack.stack) == {"services": set(), "containers": set(), "networks": set(), "volumes": set(),
                                       "secrets": set(), "configs": set()}
    # nothing of the stack without its label either: no volume, container or network of its name
    client = docker.from_env()
    prefix = f"{stack.stack}_"
    assert not [v.name for v in client.volumes.list() if v.name.startswith(prefix)]
    assert not [c.name for c in client.containers.list(all=True) if c.name.startswith(prefix)]
    assert not [n.name for n in client.networks.list() if n.name.startswith(prefix)]
    assert objects_of(another_stack) == others  # a second stack on the engine: untouched


def test_down_when_nothing_is_up_is_fine(stack: Settings) -> None:
    done = devsim("down", "--volumes")
    assert done.returncode == 0, explain(done)
    assert "was not up" in done.stdout
