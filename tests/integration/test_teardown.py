"""Runs last (file order): `devsim down` leaves nothing with the stack's label behind."""

from __future__ import annotations

import docker
import pytest
import yaml

from harness.config import Settings
from tests.integration.conftest import devsim, explain

pytestmark = pytest.mark.docker


def labelled(settings: Settings) -> dict[str, int]:
    client = docker.from_env()
    flt = {"label": settings.label}
    return {
        "services": len(client.services.list(filters=flt)),
        "containers": len(client.containers.list(all=True, filters=flt, sparse=True)),
        "networks": len(client.networks.list(filters=flt)),
        "volumes": len(client.volumes.list(filters=flt)),
    }


def test_down_keeps_volumes_unless_asked(stack: Settings) -> None:
    assert labelled(stack)["containers"] > 0
    done = devsim("down")
    assert done.returncode == 0, explain(done)
    left = labelled(stack)
    assert (left["services"], left["containers"], left["networks"]) == (0, 0, 0)
    declared = yaml.safe_load((stack.stack_dir / "stack.yml").read_text())["volumes"]
    assert left["volumes"] == len(declared)  # the databases, etcd and Prometheus survive a plain down


def test_down_with_volumes_leaves_nothing(stack: Settings) -> None:
    done = devsim("down", "--volumes")
    assert done.returncode == 0, explain(done)
    assert labelled(stack) == {"services": 0, "containers": 0, "networks": 0, "volumes": 0}
    # nothing of the stack without its label either: no volume, container or network of its name
    client = docker.from_env()
    prefix = f"{stack.stack}_"
    assert not [v.name for v in client.volumes.list() if v.name.startswith(prefix)]
    assert not [c.name for c in client.containers.list(all=True) if c.name.startswith(prefix)]
    assert not [n.name for n in client.networks.list() if n.name.startswith(prefix)]


def test_down_when_nothing_is_up_is_fine(stack: Settings) -> None:
    done = devsim("down", "--volumes")
    assert done.returncode == 0, explain(done)
    assert "was not up" in done.stdout
