"""Runs after every other production-stack test (conftest orders it):
`devsim down` leaves nothing with the stack's label behind."""

from __future__ import annotations

import time
from pathlib import Path

import docker
import pytest
import requests
import yaml

from harness.config import Settings
from harness.metrics.prometheus import Prometheus
from harness.stack import secrets, tls
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
        "secrets": len(client.secrets.list(filters=flt)),
        "configs": len(client.configs.list(filters=flt)),
    }


def test_down_keeps_volumes_unless_asked(stack: Settings) -> None:
    assert labelled(stack)["containers"] > 0
    done = devsim("down")
    assert done.returncode == 0, explain(done)
    left = labelled(stack)
    assert (left["services"], left["containers"], left["networks"]) == (0, 0, 0)
    declared = yaml.safe_load((stack.stack_dir / "stack.yml").read_text())["volumes"]
    assert left["volumes"] == len(declared)  # the databases, etcd and Prometheus survive a plain down
    # and so do the secrets that protect them (the roles' passwords are in the volumes), and
    # the TLS files (the CA and two certificates as configs, the two keys as secrets)
    assert left["secrets"] == len(secrets.SECRETS) + len(tls.SECRETS) == 12
    assert left["configs"] == len(tls.CONFIGS) == 3


def test_up_after_down_sees_only_what_runs_now(stack: Settings) -> None:
    """After `down` (volumes kept), Prometheus restarts on its old data, which holds the last
    samples of the previous stack's targets with no staleness markers. `up` used to count those
    for the default 5-minute lookback and took 292 s; it must not wait for them, and queries
    right after `up` must count only the running replicas."""
    assert labelled(stack)["services"] == 0  # the plain down above
    # A user removes the app's database password by hand while the stack is down: `up` must
    # make it anew, and the cluster (whose volume holds the old one) must take the new one.
    client = docker.from_env()
    old = {s.name: s.id for s in client.secrets.list(filters={"label": stack.label})}
    client.secrets.get(old[f"{stack.stack}_secret_db_password"]).remove()
    start = time.monotonic()
    done = devsim("up")
    took = time.monotonic() - start
    assert done.returncode == 0, explain(done)
    assert took < 120, f"up after down took {took:.0f} s"  # 292 s while it waited for old series to age out
    assert "generating missing secrets: db_password" in done.stderr + done.stdout
    now = {s.name: s.id for s in client.secrets.list(filters={"label": stack.label})}
    assert now[f"{stack.stack}_secret_db_password"] != old[f"{stack.stack}_secret_db_password"]
    assert {n: i for n, i in now.items() if not n.endswith("db_password")} == \
        {n: i for n, i in old.items() if not n.endswith("db_password")}
    item = requests.post(f"{stack.lb_url}/api/items", json={"id": f"pw-{time.time_ns()}", "payload": {}}, timeout=5)
    assert item.status_code == 201, item.text  # the app logs in with the new password
    prometheus = Prometheus(stack.prometheus_url)
    assert [s.value for s in prometheus.vector('count(up{job="app"})')] == [3.0]
    assert [s.value for s in prometheus.vector('count(up{job="lb"})')] == [1.0]
    assert [s.value for s in prometheus.vector('sum(haproxy_backend_active_servers{proxy="app"})')] == [3.0]


def test_down_with_volumes_leaves_nothing(stack: Settings, tmp_path: Path) -> None:
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
    assert labelled(stack) == {"services": 0, "containers": 0, "networks": 0, "volumes": 0, "secrets": 0,
                               "configs": 0}
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
