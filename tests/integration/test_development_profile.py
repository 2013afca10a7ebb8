"""The development profile's claims, on the real profile (conftest runs this module last,
after test_teardown.py has taken the production stack down): hot reload without a rebuild,
a debugger on 127.0.0.1 only, seed data, CORS open, debug endpoints with secrets redacted.
The production profile's side of each (none of them) is checked in test_stack.py."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from harness.chaos import containment, security
from harness.config import Settings
from tests.integration.conftest import devsim, explain

pytestmark = pytest.mark.docker

SERVICES = {"db", "cache", "mailsink", "alertmanager", "app", "monitoring"}
SECRETS = ("devsim-development-jwt-signing-key", "loadtest-secret", "devsim-db-password")


@pytest.fixture(scope="module")
def dev(settings: Settings, machine_lock: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The development profile, from a copy of target-stack/ whose app source a test edits."""
    copy = tmp_path_factory.mktemp("dev") / "target-stack"
    subprocess.run(["cp", "-a", str(settings.stack_dir), str(copy)], check=True)
    env = {"DEVSIM_STACK_DIR": str(copy)}
    done = devsim("up", "--profile", "development", env=env)
    assert done.returncode == 0, explain(done)
    yield settings.replace(stack_dir=copy, tls=False)  # plain HTTP to the app itself
    devsim("down", "--volumes", "--yes", env=env)


def containers(settings: Settings) -> dict[str, Any]:
    client = docker.from_env()
    found = client.containers.list(all=True, filters={"label": [settings.label, "devsim.profile=development"]})
    return {c.labels["devsim.service"]: c for c in found}


def test_status_says_which_profile_runs(dev: Settings) -> None:
    done = devsim("status", "--json", env={"DEVSIM_STACK_DIR": str(dev.stack_dir)})
    assert done.returncode == 0, explain(done)
    status = json.loads(done.stdout)
    assert status["profile"] == "development"
    services = {s["name"]: s for s in status["services"]}
    assert set(services) == SERVICES
    assert all(s["healthy"] for s in services.values()), services
    assert services["app"]["desired"] == 1
    plain = devsim("status", env={"DEVSIM_STACK_DIR": str(dev.stack_dir)})
    assert plain.stdout.startswith("profile: development")


def test_the_database_is_seeded_at_first_start(dev: Settings) -> None:
    first = requests.get(f"{dev.lb_url}/api/items/seed-001", timeout=5)
    assert first.status_code == 200, first.text
    assert first.json()["payload"] == {"name": "sample item 1", "price_cents": 125}
    assert requests.get(f"{dev.lb_url}/api/items/seed-025", timeout=5).json()["payload"]["price_cents"] == 3125
    assert requests.get(f"{dev.lb_url}/api/items/seed-026", timeout=5).status_code == 404


def test_a_source_change_is_served_within_5_s_without_a_rebuild(dev: Settings) -> None:
    before = containers(dev)["app"]
    source = dev.stack_dir / "app" / "server.js"
    original = source.read_text()
    marker = "res.json({ version: config.version, host: os.hostname() })"
    assert marker in original
    assert "edited" not in requests.get(f"{dev.lb_url}/api/version", timeout=5).json()
    try:
        source.write_text(original.replace(marker, "res.json({ version: config.version, edited: 'hot', "
                                                   "host: os.hostname() })"))
        took = wait_until_served(dev, lambda answer: answer.get("edited") == "hot")
        assert took <= 5, f"the edit was served after {took:.1f} s"
    finally:
        source.write_text(original)
        wait_until_served(dev, lambda answer: "edited" not in answer)  # the next test meets the original
    after = containers(dev)["app"]
    assert (after.id, after.image.id) == (before.id, before.image.id)  # no new container, no rebuild


def wait_until_served(dev: Settings, wanted: Callable[[dict[str, Any]], bool], limit: float = 30) -> float:
    """Seconds until /api/version answers as wanted (polled every 0.1 s); fails after `limit`."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        try:
            if wanted(requests.get(f"{dev.lb_url}/api/version", timeout=1).json()):
                return time.monotonic() - start
        except requests.RequestException:
            pass  # the server restarts
        time.sleep(0.1)
    pytest.fail(f"/api/version never answered as wanted within {limit:.0f} s")


def test_the_inspector_answers_the_devtools_protocol(dev: Settings) -> None:
    version = requests.get("http://127.0.0.1:9229/json/version", timeout=5).json()
    assert version["Browser"].startswith("node.js/v")
    assert version["Protocol-Version"] == "1.1"
    targets = requests.get("http://127.0.0.1:9229/json/list", timeout=5).json()
    assert any(t["webSocketDebuggerUrl"].startswith("ws://") for t in targets)


def test_every_port_is_published_on_loopback_only(dev: Settings) -> None:
    bindings = {(name, port): [b["HostIp"] for b in found]
                for name, c in containers(dev).items()
                for port, found in (c.attrs["HostConfig"]["PortBindings"] or {}).items()}
    assert bindings == {("app", "8080/tcp"): ["127.0.0.1"], ("app", "9229/tcp"): ["127.0.0.1"],
                        ("monitoring", "9090/tcp"): ["127.0.0.1"], ("mailsink", "8025/tcp"): ["127.0.0.1"]}


NS, HOST_END, NS_END = "devsim-t-ns", "devsimt-h", "devsimt-n"
# Documentation ranges for our own veth pair; the first that overlaps nothing on this host
# (one of these machines has its own uplink in 192.0.2.0/24, so that one is not on the list).
CANDIDATES = ("198.51.100.0/30", "203.0.113.0/30", "100.127.255.248/30")


def free_pair() -> tuple[str, str]:
    """Host and namespace addresses of a /30 that no address or route of the host touches."""
    used = []
    for args in (["-4", "-o", "addr", "show"], ["-4", "route", "show"]):
        out = subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout
        # every address or prefix the output names: "192.0.2.2/24", "via 192.0.2.1", ...
        used += [ipaddress.ip_network(w, strict=False) for w in out.split() if w[:1].isdigit() and w.count(".") == 3]
    for candidate in map(ipaddress.ip_network, CANDIDATES):
        if not any(candidate.overlaps(net) for net in used):
            host, peer = list(candidate.hosts())
            return str(host), str(peer)
    pytest.fail(f"every candidate range overlaps this host's networks: {CANDIDATES}")


@pytest.fixture
def outside() -> Iterator[str]:
    """A network namespace joined to the host by a veth pair: a neighbour on another address.
    Yields the host's address on the pair, the only address the test aims at."""
    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)
    host, peer = free_pair()
    subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)
    subprocess.run(["ip", "link", "del", HOST_END], capture_output=True, check=False)
    ip("netns", "add", NS)
    try:
        ip("link", "add", HOST_END, "type", "veth", "peer", "name", NS_END)
        ip("link", "set", NS_END, "netns", NS)
        ip("addr", "add", f"{host}/30", "dev", HOST_END)
        ip("link", "set", HOST_END, "up")
        ip("-n", NS, "addr", "add", f"{peer}/30", "dev", NS_END)
        ip("-n", NS, "link", "set", NS_END, "up")
        yield host
    finally:
        subprocess.run(["ip", "link", "del", HOST_END], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)


def connect_from_outside(host: str, port: int) -> str:
    code = (f"import socket\ntry:\n socket.create_connection(('{host}', {port}), timeout=3).close()\n"
            " print('open')\nexcept OSError as e:\n print(type(e).__name__)")
    done = subprocess.run(["ip", "netns", "exec", NS, sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=30)
    return done.stdout.strip()


def test_the_inspector_is_closed_to_another_address(dev: Settings, outside: str) -> None:
    with socket.socket() as listener:  # positive control: a port bound on every address is open
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        assert connect_from_outside(outside, listener.getsockname()[1]) == "open"
    assert connect_from_outside(outside, 9229) == "ConnectionRefusedError"
    assert connect_from_outside(outside, dev.lb_port) == "ConnectionRefusedError"
    assert requests.get("http://127.0.0.1:9229/json/version", timeout=5).status_code == 200  # on loopback it is


def test_cors_is_open_and_the_debug_config_redacts_secrets(dev: Settings) -> None:
    preflight = requests.options(f"{dev.lb_url}/api/items", timeout=5, headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    got = requests.get(f"{dev.lb_url}/api/items/seed-002", headers={"Origin": "http://elsewhere.test"}, timeout=5)
    assert got.headers["Access-Control-Allow-Origin"] == "*"
    debug = requests.get(f"{dev.lb_url}/debug/config", timeout=5)
    assert debug.status_code == 200
    config = debug.json()
    assert config["profile"] == "development"
    assert config["jwtSecret"] == "[redacted]"
    assert config["clients"] == [{"id": "loadtest", "secret": "[redacted]"}]
    assert config["postgres"]["password"] == "[redacted]"
    assert not [s for s in SECRETS if s in debug.text]


def test_the_security_probes_find_the_plain_text_credentials(dev: Settings) -> None:
    """The negative control of experiments/security-baseline.yaml (issue 16): the development
    profile keeps its credentials in plain-text variables, Redis without a password,
    PostgreSQL without TLS and the app on plain HTTP, and the same probes that pass on the
    production profile say so."""
    exposed = security.secrets_exposed().split("; ")
    app, db = (f"container {n} (inspect)" for n in (containers(dev)["app"].name, containers(dev)["db"].name))
    assert {f"jwt_signing_key in {app}", f"oauth_clients in {app}", f"db_password in {app}",
            f"db_password in {db}"} <= set(exposed)
    assert security.redis_unauthenticated_write() == "accepted"
    assert security.db_plaintext_connection(host="db", port=5432) == "accepted"
    assert security.plain_http_answer() == "200"  # served in plain text, no redirect to HTTPS
    assert security.edge_handshake(max_version="TLSv1_2").startswith("refused: ")  # no TLS at all
    uncontained = containment.uncontained().split("; ")  # and no container is bounded
    assert "app: capabilities not dropped, root filesystem writable, no memory limit, no pids limit, no CPU limit, " \
        "logs not rotated" in uncontained, uncontained
    # and its services run as their images' users: Alertmanager and Prometheus as one
    assert "prometheus: alertmanager, monitoring" in containment.shared_users().split("; ")


def test_the_secret_search_finds_a_secret_in_a_process_s_arguments_and_in_a_file_on_disk(dev: Settings) -> None:
    """The places the production profile keeps clean (issue 32), shown to be searched: a
    secret planted in a process's arguments and in a file of a container's layer is found
    in each, by where."""
    app = containers(dev)["app"]
    key = next(e.split("=", 1)[1] for e in app.attrs["Config"]["Env"] if e.startswith("JWT_SECRET="))
    app.exec_run(["sh", "-c", "sleep 60", key], detach=True)  # the key as the shell's $0: in its arguments
    code, out = app.exec_run(["sh", "-c", 'printf %s "$0" > /var/tmp/planted', key])
    assert code == 0, out
    try:
        exposed = security.secrets_exposed().split("; ")
    finally:
        app.exec_run(["rm", "-f", "/var/tmp/planted"])
    assert f"jwt_signing_key in container {app.name} (process arguments)" in exposed, exposed
    assert f"jwt_signing_key in container {app.name} (file /var/tmp/planted on disk)" in exposed, exposed


def test_alerts_are_console_warnings_and_only_the_app_level_rules_load(dev: Settings) -> None:
    rules = requests.get(f"{dev.prometheus_url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    names = {r["name"] for g in rules for r in g["rules"]}
    assert names == {"AppReplicaDown", "HighClientErrorRatio", "DiskAlmostFull"}
    alertmanager = containers(dev)["alertmanager"]
    assert "ALERT_PROFILE=development" in alertmanager.attrs["Config"]["Env"]


def test_an_experiment_with_no_up_says_the_development_profile_runs(dev: Settings) -> None:
    experiment = Path(__file__).resolve().parents[2] / "experiments" / "app-instance-crash.yaml"
    done = devsim("run", "--no-up", str(experiment), env={"DEVSIM_STACK_DIR": str(dev.stack_dir)})
    assert done.returncode == 2, explain(done)
    errors = [line for line in done.stderr.splitlines() if line.startswith("devsim: error:")]
    assert errors == ["devsim: error: the stack 'devsim' runs its development profile; experiments check the "
                      "production profile's claims (run `devsim up` to switch to it)"]
    assert containers(dev)["app"].status == "running"  # nothing touched


def test_down_removes_the_profile(dev: Settings) -> None:
    # --offsite: the production profile's offsite backup repository too (journey 5 starts from nothing)
    done = devsim("down", "--volumes", "--offsite", "--yes", env={"DEVSIM_STACK_DIR": str(dev.stack_dir)})
    assert done.returncode == 0, explain(done)
    assert "removed" in done.stdout
    client = docker.from_env()
    flt = {"label": dev.label}
    assert client.containers.list(all=True, filters=flt) == []
    assert client.networks.list(filters=flt) == []
    assert client.volumes.list(filters=flt) == []
    status = devsim("status", "--json")
    assert json.loads(status.stdout)["up"] is False
