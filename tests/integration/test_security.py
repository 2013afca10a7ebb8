"""The production profile's TLS, secrets and control plane (issue 16), on the real stack: the
security experiment's claims hold, and each of its controls (Redis without a password, plain
HTTP served, no rate limits) fails the claims it names, with the measured value. The development profile,
with its plain-text credentials and no TLS, is the wider negative control
(test_development_profile.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import docker
import pytest

from harness.chaos import containment
from harness.config import PROJECT_ROOT, Settings
from harness.driver import driver_for
from harness.target import secrets
from tests.integration.conftest import devsim, explain, judged_again

pytestmark = pytest.mark.docker

EXPERIMENT = PROJECT_ROOT / "experiments" / "security-baseline.yaml"


def test_the_security_claims_hold_and_each_control_fails_its_claim(as_shipped: Settings) -> None:
    done = devsim("run", "--no-up", "--prove", "--json", str(EXPERIMENT))
    assert done.returncode == 0, explain(done)
    [result] = json.loads(done.stdout)
    judged_again(Path(result["run_dir"]))  # offline, from the folder: the same verdict
    measured = {c["name"]: c["measured"] for c in result["claims"]}
    assert measured["the edge's certificate verifies against the stack's CA"].startswith("verified: localhost, until ")
    assert measured["the edge refuses TLS 1.0 and 1.1"].startswith("refused: ")
    assert measured["the edge refuses weak ciphers (CBC, 3DES, RC4, no forward secrecy)"].startswith("refused: ")
    assert measured["plain HTTP is redirected to HTTPS"] == f"308 https://127.0.0.1:{as_shipped.lb_tls_port}/health"
    assert measured["the edge sends HSTS"] == "max-age=31536000"
    assert measured["a token as the stack mints it is accepted (the token probes' own control)"] == 200
    refused = {name: value for name, value in measured.items() if name.startswith("a") and "token" in name
               and "own control" not in name}
    assert len(refused) == 11  # the ten token variants, and a write without a token
    assert set(refused.values()) == {401}, refused
    # bad input: 4xx, never a 5xx the client could raise the stack's alarms with
    bad = {name: value for name, value in measured.items() if name.endswith(" is refused with a 4xx")}
    assert len(bad) == 11
    assert bad.pop("a write over the 64 kB body limit is refused with a 4xx") == 413
    assert set(bad.values()) == {400}, bad
    assert measured["the report without a token is refused (401)"] == 401
    assert measured["token responses may not be cached (Cache-Control no-store)"] == "no-store"
    assert measured["plain HTTP is redirected to the stack's own host, whatever Host the client sent"] == \
        f"308 https://127.0.0.1:{as_shipped.lb_tls_port}/health"
    assert measured["the edge does not serve the app's metrics"] == 404
    assert measured["the edge does not serve the app's metrics under another spelling (/METRICS/)"] == 404
    assert measured["/ready at the edge is the edge's own answer, not a replica's (no dependency named)"] == \
        "ready,replicas_ready"
    # the first 64 come at once: the cap of 60 a second admits at most 60 of them, whatever the
    # machine's speed; the rest of the burst is measured, not bounded (its rate is the machine's)
    limited = measured["a burst of 120 report requests, the first 64 at once, meets the edge's rate limit (429)"]
    assert 64 - 60 <= limited < 120, limited
    assert measured["no request of a report burst is answered 5xx"] == 0
    assert measured["every running container is contained (no capability, read-only root, memory, pids and CPU "
                    "limits, rotated logs)"] == "none"
    assert measured["no two services run as one user, and none as root (the database nodes, one server replicated, "
                    "share theirs)"] == "none"
    assert measured["no published port answers from outside the host's loopback"] == "none"
    assert measured["no secret value in any inspect output, container log, process's arguments, file on disk or the "
                    "run's folder"] == "none"
    assert measured["Patroni refuses a configuration change without credentials (401)"] == 401
    assert measured["etcd refuses a write without credentials"].startswith("refused: ")
    assert measured["Redis refuses a write without its password"] == "refused: NOAUTH Authentication required."
    assert measured["the app's network does not reach etcd"] == "unreachable: no such host"
    assert measured["the app's network does not reach Patroni's REST API"] == "unreachable: no such host"
    assert measured["the app reaches PostgreSQL only through the router"] == "unreachable: no such host"
    for path in ("through the router", "to a node"):
        refused = measured[f"PostgreSQL refuses a plain-text connection {path}"]
        assert refused.startswith("refused: psql: error: connection to server at "), refused
        assert "failed: FATAL:  pg_hba.conf rejects connection for host" in refused
        assert refused.endswith("no encryption"), refused
    assert measured["every network session on the leader is encrypted (app, exporters, replication)"] == 0
    assert measured["the router does reach Patroni's REST API (the reachability probe sees an open port)"] == \
        "reachable"
    redis = next(c for c in result["claims"] if c["name"] == "Redis refuses a write without its password")
    assert redis["power"] == "shown"
    failed = {}
    for control in result["controls"]:
        assert control["status"] == "failed", control
        verdict = json.loads((as_shipped.reports_dir / control["run_id"] / "verdict.json").read_text())
        failed[control["name"]] = {c["name"]: c["measured"] for c in verdict["claims"] if c["outcome"] == "failed"}
    assert failed == {
        "Redis without a password": {"Redis refuses a write without its password": "accepted"},
        "the app served over plain HTTP too": {
            "plain HTTP is redirected to HTTPS": "200",
            "plain HTTP is redirected to the stack's own host, whatever Host the client sent": "200"},
        "no rate limits at the edge": {
            "a burst of 120 report requests, the first 64 at once, meets the edge's rate limit (429)": 0},
    }


def test_the_secrets_are_docker_secrets_and_not_the_old_defaults(as_shipped: Settings) -> None:
    driver = driver_for(as_shipped.stack)
    names = driver.secrets()
    assert sorted(n for n in names if not n.startswith("tls_")) == sorted(secrets.SECRETS)
    assert sorted(n.rsplit("_", 1)[0] for n in names if n.startswith("tls_")) == ["tls_db_key", "tls_edge_key"]
    values = {name: secrets.read(driver, name, service) for name, [service, *_] in
              secrets.mounted_by(as_shipped.stack_dir).items()}
    assert len(set(values.values())) == len(values)  # each its own
    assert all(len(v) >= 40 for v in values.values())  # 32 random bytes, base64
    assert not {"devsim-db-password", "devsim-jwt-secret", "loadtest-secret"} & set(values.values())
    app = docker.from_env().services.get(f"{as_shipped.stack}_app").attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    env = dict(e.split("=", 1) for e in app["Env"])
    assert env["JWT_SECRET_FILE"] == "/run/secrets/jwt_signing_key"
    assert not {"JWT_SECRET", "PGPASSWORD", "OAUTH_CLIENTS", "REDIS_PASSWORD"} & set(env)


@pytest.mark.parametrize(("env", "message"), [
    ({}, "no token signing key"),
    ({"JWT_SECRET_FILE": "/run/secrets/missing"}, "cannot read JWT_SECRET_FILE (/run/secrets/missing): ENOENT"),
    ({"JWT_SECRET": "short"}, "no token signing key"),
    ({"JWT_SECRET": "k" * 32}, "no OAuth2 client"),
])
def test_the_app_refuses_to_start_without_its_signing_key_or_clients(as_shipped: Settings, env: dict[str, str],
                                                                      message: str) -> None:
    image = docker.from_env().services.get(f"{as_shipped.stack}_app").attrs["Spec"]["TaskTemplate"][
        "ContainerSpec"]["Image"].split("@")[0]
    argv = ["docker", "run", "--rm", "--network", "none", *[f"-e{k}={v}" for k, v in env.items()], image]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stderr


def test_a_memory_hog_in_an_app_task_stops_at_its_limit_and_the_stack_stays_healthy(as_shipped: Settings) -> None:
    """A process that fills memory in one app task is killed at the task's limit (256 MiB);
    the task itself, its siblings and every other service go on as before."""
    driver = driver_for(as_shipped.stack)
    before = {c.id for c in driver.containers("app")}
    assert containment.memory_hog("app") == "killed at the limit (exit 137)"
    assert {c.id for c in driver.containers("app")} == before  # no task was replaced
    done = devsim("status", "--json")
    assert done.returncode == 0, explain(done)
    services = json.loads(done.stdout)["services"]
    assert [s["name"] for s in services if not s["healthy"]] == []
    app = next(s for s in services if s["name"] == "app")
    assert app["ready"] == app["desired"] == as_shipped.replicas
