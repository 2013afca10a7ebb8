"""Security probes: what the stack's secrets and its control plane give away, measured on the
running stack (experiments/security-baseline.yaml makes claims of them).

Each probe answers with the measured fact, not a yes or no: where a secret was found, the
status or reply an unauthenticated change got, whether a port answered. The attempts come
from inside the stack's own networks, as another container on them would make them, and
change nothing when refused: an accepted one writes a key or setting nobody reads.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import requests
from chaoslib.types import Configuration

from harness.chaos import engine
from harness.chaos.engine import activity
from harness.chaos.evidence import NoEvidence
from harness.driver import StackDriver
from harness.errors import InfrastructureError
from harness.target import patroni, secrets, tls

RUN_FILE_LARGEST = 16 << 20  # bytes; the request log of a long run is larger, and holds no secret

__all__ = [
    "db_plaintext_connection",
    "db_unencrypted_sessions",
    "edge_certificate",
    "edge_handshake",
    "edge_header",
    "etcd_unauthenticated_write",
    "patroni_unauthenticated_change",
    "plain_http_answer",
    "reachable_from",
    "redis_unauthenticated_write",
    "secrets_exposed",
]


@activity
def secrets_exposed(configuration: Configuration = None) -> str:
    """Where a secret's value can be read without the secret: each service's, container's
    and image's inspect output (environment, labels, command, build history), each
    container's log, the arguments of every process (readable by any user in /proc), every
    file written to a container's writable layer on disk (exited containers too), and the
    run's own folder. "none", or every finding ("<secret> in <where>"), joined by "; "."""
    driver = engine.driver(configuration)
    found = secrets.values(driver, engine.settings(configuration).stack_dir)
    if not found:
        raise InfrastructureError("the running stack has no secret to look for (is it up?)")
    records = {**driver.records(), **_run_folder((configuration or {}).get("request_log") or "")}
    findings = [f"{name} in {where}" for where, text in sorted(records.items())
                for name in secrets.values_in(text, found)]
    return "; ".join(findings) or "none"


def _run_folder(request_log: str) -> dict[str, str]:
    """The files of the run's folder (the request log's), as far as they are written now."""
    folder = Path(request_log).parent if request_log else None
    if folder is None or not folder.is_dir():
        return {}
    return {f"the run's folder ({f.name})": f.read_text(errors="replace") for f in sorted(folder.iterdir())
            if f.is_file() and f.stat().st_size <= RUN_FILE_LARGEST}


@activity
def patroni_unauthenticated_change(member: str = "db1", configuration: Configuration = None) -> int:
    """The HTTP status Patroni's REST API of `member` gives a configuration change without
    credentials, sent from another node over the database network (401: refused). The change
    sets the lease to what it is, so an accepted one changes nothing."""
    driver = engine.driver(configuration)
    cluster = patroni.discover(driver)
    ttl = cluster.rest("/config")[1].get("ttl", 20)
    other = next(m for m in cluster.members if m != member)
    _, out = driver.exec(secrets.running_container(driver, other), [
        "curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PATCH",
        "-H", "Content-Type: application/json", "-d", f'{{"ttl": {int(ttl)}}}', f"http://{member}:8008/config"])
    if not out.strip().isdigit():
        raise InfrastructureError(f"Patroni's REST API on {member} did not answer: {out.strip()[-200:]}")
    return int(out.strip())


@activity
def etcd_unauthenticated_write(configuration: Configuration = None) -> str:
    """What etcd answers a write without credentials under Patroni's own prefix, sent from a
    database node over the database network: "accepted", or "refused: " and etcd's answer."""
    driver = engine.driver(configuration)
    code, out = driver.exec(secrets.running_container(driver, patroni.discover(driver).members[0]), [
        "env", "ETCDCTL_API=3", "etcdctl", "--endpoints=http://etcd:2379", "--dial-timeout=3s",
        "put", "/service/devsim-audit", "unauthenticated"])
    return "accepted" if code == 0 else f"refused: {_last_error(out)}"


@activity
def redis_unauthenticated_write(configuration: Configuration = None) -> str:
    """What Redis answers a write without a password, sent to the service's address from its
    own container: "accepted", or "refused: " and Redis's answer (NOAUTH ...)."""
    driver = engine.driver(configuration)
    code, out = driver.exec(secrets.running_container(driver, "cache"),
                            ["redis-cli", "-h", "cache", "SET", "devsim-audit", "unauthenticated"])
    reply = out.strip()
    return "accepted" if code == 0 and reply == "OK" else f"refused: {_last_error(reply) or 'no answer'}"


@activity
def reachable_from(service: str, host: str, port: int, configuration: Configuration = None) -> str:
    """Whether a container of `service` can open a TCP connection to host:port: "reachable",
    or "unreachable: " and why ("no such host" when the name does not resolve on its networks)."""
    driver = engine.driver(configuration)
    # host and port reach bash as arguments, never as script text: a file's value cannot run a command
    code, out = driver.exec(secrets.running_container(driver, service), [
        "timeout", "4", "bash", "-c", 'exec 3<>"/dev/tcp/$1/$2"', "reachable_from", str(host), str(int(port))])
    if code == 0:
        return "reachable"
    if "not known" in out:
        return "unreachable: no such host"
    return "unreachable: " + ("timed out" if code == 124 else (_last_error(out) or f"exit {code}"))


@activity
def db_plaintext_connection(host: str = "dbrouter", port: int = 5000, from_service: str = "",
                            configuration: Configuration = None) -> str:
    """What PostgreSQL at host:port answers a plain-text (sslmode=disable) connection, made
    with psql from a container of `from_service` (default: a database node, or the
    development profile's `db`): "refused: " and the server's answer when it turns it away
    before any password, "accepted" when it goes on to authentication."""
    driver = engine.driver(configuration)
    source = from_service or _database_service(driver)
    dsn = f"host={host} port={int(port)} dbname=devsim user=devsim sslmode=disable connect_timeout=3"
    argv = ["env", "-u", "PGPASSWORD", "psql", "-w", dsn, "-Atc", "SELECT 1"]
    code, out = driver.exec(secrets.running_container(driver, source), argv)
    if "no encryption" in out or "rejects connection" in out:
        return f"refused: {_last_error(out)}"
    if code == 0 or "password" in out:  # served, or asked for a password: the plain connection was taken
        return "accepted"
    raise InfrastructureError(f"psql from {source} to {host}:{port} failed otherwise: {_last_error(out)}")


@activity
def db_unencrypted_sessions(configuration: Configuration = None) -> int:
    """How many of the sessions connected to the database leader over the network (the app's
    through the router, the exporters', the replicas' streams) are not encrypted. Raises
    NoEvidence when there is none to judge."""
    cluster = patroni.discover(engine.driver(configuration))
    rows = cluster.sql("SELECT count(*) FILTER (WHERE NOT s.ssl), count(*) FROM pg_stat_activity a "
                       "JOIN pg_stat_ssl s USING (pid) WHERE a.client_addr IS NOT NULL")
    plain, total = (int(v) for v in rows[0])
    if total == 0:
        raise NoEvidence("no session is connected to the leader over the network")
    return plain


def _edge(configuration: Configuration) -> tuple[str, int]:
    url = urlsplit(engine.target(configuration).lb_url)
    if url.scheme != "https":
        raise InfrastructureError(f"the stack's edge is not HTTPS here ({url.geturl()})")
    return url.hostname or "127.0.0.1", url.port or 443


@activity
def edge_handshake(max_version: str = "TLSv1_1", ciphers: str = "", configuration: Configuration = None) -> str:
    """What the edge answers a TLS handshake offering at most `max_version` (a name of
    ssl.TLSVersion) and, when given, only the OpenSSL `ciphers`: "accepted: " and what was
    agreed, or "refused: " and why. The certificate is not checked here (edge_certificate
    does): the question is what the server agrees to."""
    host, port = _edge(configuration)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.minimum_version, ctx.maximum_version = ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion[max_version]
    ctx.set_ciphers((ciphers or "ALL") + ":@SECLEVEL=0")  # let this client offer what a weak one would
    try:
        with socket.create_connection((host, port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
            return f"accepted: {tls.version()} {tls.cipher()[0]}"  # type: ignore[index]
    except (ssl.SSLError, OSError) as exc:
        return f"refused: {getattr(exc, 'reason', None) or exc}"


@activity
def edge_certificate(configuration: Configuration = None) -> str:
    """Whether the edge's certificate verifies against the stack's CA for the name clients
    use (127.0.0.1): "verified: " with its subject and end, or "unverified: " and why."""
    host, port = _edge(configuration)
    ca = tls.ca_pem(engine.driver(configuration))
    ctx = ssl.create_default_context(cadata=ca)
    try:
        with socket.create_connection((host, port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as conn:
            cert = conn.getpeercert() or {}
    except (ssl.SSLError, OSError) as exc:
        return f"unverified: {getattr(exc, 'verify_message', None) or getattr(exc, 'reason', None) or exc}"
    subject = dict(pair[0] for pair in cert.get("subject", ()))  # type: ignore[misc]
    return f"verified: {subject.get('commonName', '?')}, until {cert.get('notAfter', '?')}"


@activity
def plain_http_answer(path: str = "/health", host: str = "", configuration: Configuration = None) -> str:
    """What plain HTTP on the load balancer's port answers: "<status> <Location>" (a redirect
    to HTTPS, at best), or "no answer". `host`: the Host header to send instead of the
    address's (a redirect built from it would send clients wherever a link says)."""
    headers = {"Host": host} if host else {}
    try:
        answer = engine.http(configuration).get(engine.settings(configuration).lb_plain_url + path, timeout=3,
                                                allow_redirects=False, headers=headers)
    except requests.RequestException as exc:
        return f"no answer: {type(exc).__name__}"
    return f"{answer.status_code} {answer.headers.get('Location', '')}".strip()


@activity
def edge_header(name: str = "Strict-Transport-Security", path: str = "/health",
                configuration: Configuration = None) -> str:
    """A response header of the edge over HTTPS ("absent" when it sends none); verified
    against the stack's CA, as every request of the harness (engine.http)."""
    answer = engine.http(configuration).get(engine.target(configuration).lb_url + path, timeout=3)
    return answer.headers.get(name, "absent")


def _database_service(driver: StackDriver) -> str:
    try:
        return patroni.discover(driver).members[0]
    except InfrastructureError:
        return "db"  # the development profile's single PostgreSQL


def _last_error(out: str) -> str:
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
