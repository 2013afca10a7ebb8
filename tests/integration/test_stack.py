"""The stack as `devsim up` leaves it: it answers, stores, authenticates and is monitored."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import socket
import time
import uuid

import docker
import pytest
import requests
import yaml

from harness.config import Settings, load_settings
from harness.driver import driver_for
from harness.metrics.prometheus import Prometheus
from harness.target import secrets
from tests.integration.conftest import bearer, devsim, explain

pytestmark = pytest.mark.docker

@functools.cache
def stack_secret(stack: str, name: str) -> str:
    """A secret as the running stack holds it (made at random by `devsim up`)."""
    return secrets.read(driver_for(stack), name)


def client(stack: Settings) -> dict[str, str]:
    client_id, secret = secrets.parse_client(stack_secret(stack.stack, "oauth_clients"), "loadtest")
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}


def token(stack: Settings, **extra: object) -> str:
    answer = requests.post(f"{stack.lb_url}/api/auth/token", data={**client(stack), **extra}, timeout=5)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def me(stack: Settings, bearer: str) -> requests.Response:
    return requests.get(f"{stack.lb_url}/api/me", headers={"Authorization": f"Bearer {bearer}"}, timeout=5)


def test_health_through_the_load_balancer(stack: Settings) -> None:
    answer = requests.get(f"{stack.lb_url}/health", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_ready_at_the_edge_is_the_edges_own(stack: Settings) -> None:
    """A replica's /ready (its PostgreSQL and Redis checks) is HAProxy's business; the edge
    answers for itself: how many replicas its checks keep in rotation."""
    answer = requests.get(f"{stack.lb_url}/ready", timeout=5)
    assert (answer.status_code, answer.json()) == (200, {"ready": True, "replicas_ready": stack.replicas})
    for spelling in ("/READY", "/ready/", "/Ready/"):
        assert requests.get(f"{stack.lb_url}{spelling}", timeout=5).json() == answer.json(), spelling


def test_item_written_reads_back(stack: Settings) -> None:
    item_id = f"it-{uuid.uuid4()}"
    payload = {"n": 42, "text": "hello"}
    auth = bearer(stack)
    written = requests.post(f"{stack.lb_url}/api/items", json={"id": item_id, "payload": payload}, headers=auth,
                            timeout=5)
    assert written.status_code == 201, written.text
    # A replay of the same write is answered as the first (the load balancer may retry it);
    # the same id with another payload is a conflict, and the first payload stays.
    again = requests.post(f"{stack.lb_url}/api/items", json={"id": item_id, "payload": payload}, headers=auth,
                          timeout=5)
    assert (again.status_code, again.json()) == (201, {"id": item_id})
    other = requests.post(f"{stack.lb_url}/api/items", json={"id": item_id, "payload": {"n": 43}}, headers=auth,
                          timeout=5)
    assert other.status_code == 409
    reordered = requests.post(f"{stack.lb_url}/api/items", json={"id": item_id, "payload": {"text": "hello", "n": 42}},
                              headers=auth, timeout=5)
    assert reordered.status_code == 201  # the same JSON value, keys in another order
    # Round robin: every replica must see the committed row.
    for _ in range(stack.replicas):
        read = requests.get(f"{stack.lb_url}/api/items/{item_id}", timeout=5)
        assert read.status_code == 200
        assert read.json()["payload"] == payload
    assert requests.get(f"{stack.lb_url}/api/items/missing-{uuid.uuid4()}", timeout=5).status_code == 404


def test_token_is_accepted_and_wrong_credentials_refused(stack: Settings) -> None:
    answer = me(stack, token(stack))
    assert answer.status_code == 200
    assert answer.json()["sub"] == "loadtest"
    bad = requests.post(f"{stack.lb_url}/api/auth/token", data={**client(stack), "client_secret": "wrong"}, timeout=5)
    assert bad.status_code == 401


def test_forged_token_is_rejected(stack: Settings) -> None:
    head, body, mac = token(stack).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "admin"
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert me(stack, f"{head}.{forged_body}.{mac}").status_code == 401
    assert me(stack, f"{head}.{body}.{mac[:-2]}xx").status_code == 401
    assert requests.get(f"{stack.lb_url}/api/me", timeout=5).status_code == 401


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims: dict[str, object], header: dict[str, object] | None = None, key: str = "") -> str:
    """A token signed here with HS256 by `key` (else the stack's own key, read from its
    Docker secret), or, for alg none, left unsigned."""
    key = key or stack_secret(load_settings(os.environ).stack, "jwt_signing_key")
    head = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    if (header or {}).get("alg") == "none":
        return f"{head}.{body}."
    return f"{head}.{body}.{b64(hmac.new(key.encode(), f'{head}.{body}'.encode(), hashlib.sha256).digest())}"


def test_tokens_outside_the_contract_are_refused(stack: Settings) -> None:
    real = token(stack)
    body = real.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert (claims["iss"], claims["aud"]) == ("devsim-app", "devsim-api")
    # the control: the same claims signed here are accepted, so each refusal below is the defect's
    assert me(stack, mint(claims)).status_code == 200
    now = int(time.time())
    without_aud = {k: v for k, v in claims.items() if k != "aud"}
    refused = {
        "junk after the signature (!!)": real + "!!",  # the hand-written check accepted these three
        "junk after the signature (=)": real + "=",
        "junk after the signature (~)": real + "~",
        "alg none": mint(claims, {"alg": "none", "typ": "JWT"}),
        "alg HS512": mint(claims, {"alg": "HS512", "typ": "JWT"}),
        "wrong key": mint(claims, key="guessed"),
        "wrong audience": mint({**claims, "aud": "another-api"}),
        "no audience": mint(without_aud),
        "wrong issuer": mint({**claims, "iss": "someone-else"}),
        "not yet valid": mint({**claims, "nbf": now + 3600}),
        "expired": mint({**claims, "exp": now - 1}),
        "no expiry": mint({k: v for k, v in claims.items() if k != "exp"}),  # jose alone accepted it
        "another subject on this session": mint({**claims, "sub": "admin"}),
    }
    assert {name: me(stack, t).status_code for name, t in refused.items()} == dict.fromkeys(refused, 401)


def test_expired_token_is_rejected(stack: Settings) -> None:
    short = token(stack, expires_in=1)
    assert me(stack, short).status_code == 200
    time.sleep(2.2)
    assert me(stack, short).status_code == 401


def test_revoked_token_is_rejected(stack: Settings) -> None:
    bearer = token(stack)
    revoked = requests.post(f"{stack.lb_url}/api/auth/revoke",
                            headers={"Authorization": f"Bearer {bearer}"}, timeout=5)
    assert revoked.status_code == 204
    assert me(stack, bearer).status_code == 401


def test_prometheus_sees_every_app_replica_up(stack: Settings) -> None:
    samples = Prometheus(stack.prometheus_url).vector('up{job="app"}')
    assert len(samples) == stack.replicas
    assert all(s.value == 1 for s in samples)
    versions = Prometheus(stack.prometheus_url).vector("count by (version) (app_info)")
    assert [(s.labels["version"], s.value) for s in versions] == [("v1", stack.replicas)]
    assert Prometheus(stack.prometheus_url).vector('up{job="lb"}')[0].value == 1


def test_status_reports_every_service_ready(stack: Settings) -> None:
    done = devsim("status", "--json")
    assert done.returncode == 0, explain(done)
    status = json.loads(done.stdout)
    services = {s["name"]: s for s in status["services"]}
    declared = yaml.safe_load((stack.stack_dir / "stack.yml").read_text())["services"]
    assert set(services) == set(declared)
    assert {"app", "lb", "db1", "monitoring", "alertmanager", "mailsink"} <= set(services)
    assert services["mailsink"]["endpoints"] == [stack.mailsink_url]
    assert services["app"]["desired"] == stack.replicas
    assert all(s["healthy"] for s in services.values())
    assert services["app"]["version"] == "v1"
    assert services["lb"]["endpoints"] == [stack.lb_plain_url, stack.lb_url]  # 8080 redirects to 8443


def in_volume(volume: str, *argv: str) -> str:
    """A command as root over one of the stack's volumes (mounted at /v), in a container of the
    test's own; its output."""
    out: bytes = docker.from_env().containers.run(
        "debian:bookworm-slim", list(argv), volumes={volume: {"bind": "/v", "mode": "rw"}}, network_mode="none",
        remove=True, labels={"devsim.stack": "devsim-test-tools"})
    return out.decode()


def test_up_twice_is_fine_and_hands_an_earlier_releases_volume_over(stack: Settings) -> None:
    """A second `up` of a running stack; etcd's volume holds a file of an earlier release's
    owner (the database image's postgres user, whom etcd ran as before issue 32): `up` gives it
    to etcd's own user, and etcd, the cluster and the edge come back."""
    volume = f"{stack.stack}_etcd-data"
    in_volume(volume, "sh", "-c", "touch /v/from-an-earlier-release && chown 999:999 /v/from-an-earlier-release")
    before = requests.get(f"{stack.lb_url}/health", timeout=5).status_code
    done = devsim("up")
    assert done.returncode == 0, explain(done)
    assert before == 200
    assert requests.get(f"{stack.lb_url}/health", timeout=5).status_code == 200
    assert "etcd-data to etcd (uid 10014)" in done.stderr
    assert in_volume(volume, "find", "/v", "-mindepth", "1", "(", "!", "-uid", "10014", "-o", "!", "-gid", "10014",
                     ")") == ""
    assert in_volume(volume, "stat", "-c", "%u:%g", "/v/from-an-earlier-release") == "10014:10014\n"
    again = devsim("up")  # handed over: looked at, not touched
    assert again.returncode == 0, explain(again)
    assert "handing volumes" not in again.stderr


def test_the_production_profile_has_no_debug_endpoint_cors_or_inspector(stack: Settings) -> None:
    """The development profile's conveniences (test_development_profile.py), absent here."""
    assert requests.get(f"{stack.lb_url}/debug/config", timeout=5).status_code == 404
    preflight = requests.options(f"{stack.lb_url}/api/items", timeout=5, headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in preflight.headers
    got = requests.get(f"{stack.lb_url}/api/version", headers={"Origin": "http://elsewhere.test"}, timeout=5)
    assert "Access-Control-Allow-Origin" not in got.headers
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", 9229), timeout=3):
        pass
    done = devsim("status", "--json")
    assert json.loads(done.stdout)["profile"] == "production"


def test_no_service_runs_as_root(stack: Settings) -> None:
    """The main process of every service's container, read from its own /proc/1/status."""
    from harness.driver import driver_for

    driver = driver_for(stack.stack)
    users = {}
    for service in driver.services():
        for container in driver.containers(service.name):
            code, status = driver.exec(container, ["cat", "/proc/1/status"])
            assert code == 0, (service.name, status)
            uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
            users[service.name] = int(uid)
    assert len(users) == len(driver.services())
    assert {name: uid for name, uid in users.items() if uid == 0} == {}
    # and each its own, but the database nodes' (one server, replicated)
    assert (users["etcd"], users["backup"], users["offsite"]) == (10014, 10015, 10016)
    assert (users["scaler-gate"], users["autoscaler"]) == (10017, 10018)
    others = [uid for name, uid in users.items() if name not in ("db2", "db3")]
    assert len(set(others)) == len(others), users
    assert users["db1"] == users["db2"] == users["db3"]


def test_prometheus_lifecycle_api_is_off(stack: Settings) -> None:
    """POST /-/reload (harmless when on) answers 403: nothing on the network can stop Prometheus."""
    answer = requests.post(f"{stack.prometheus_url}/-/reload", timeout=5)
    assert answer.status_code == 403, answer.text
    assert "Lifecycle API is not enabled" in answer.text
