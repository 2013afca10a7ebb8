"""The edge's TLS probes against servers of the test's own on 127.0.0.1 (issue 16): each probe
must see acceptance where a server accepts, so that "refused" on the stack is the stack's
answer and not the probe's blindness. The servers use a certificate of the stack's own kind
(tls.make), so the certificate probe is checked against the CA that signed it and another."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.chaos import engine, security
from harness.driver import driver_for
from harness.target import tls
from tests.unit.fakedriver import FakeDriver

NOW = dt.datetime.now(dt.UTC)


def serve(context: ssl.SSLContext) -> tuple[int, threading.Event]:
    """Completes TLS handshakes on a free port until told to stop; returns (port, stop)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.recv(1)
            except (ssl.SSLError, OSError):
                pass
        listener.close()

    threading.Thread(target=loop, daemon=True).start()
    return listener.getsockname()[1], stop


@pytest.fixture
def made(tmp_path: Path) -> dict[str, str]:
    return tls.make("devsim", NOW)


def server_context(made: dict[str, str], tmp_path: Path, minimum: ssl.TLSVersion, ciphers: str) -> ssl.SSLContext:
    (tmp_path / "cert.pem").write_text(made["tls_edge_cert"])
    (tmp_path / "key.pem").write_text(made["tls_edge_key"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    ctx.minimum_version = minimum
    ctx.set_ciphers(ciphers)
    return ctx


@pytest.fixture
def edge(made: dict[str, str]) -> Iterator[FakeDriver]:
    fake = FakeDriver()
    fake.config_values["tls_ca_20260101000000"] = made["tls_ca"]
    for kind in ("tls_db_cert", "tls_edge_cert"):
        fake.config_values[f"{kind}_20260101000000"] = made[kind]
    for kind in ("tls_db_key", "tls_edge_key"):
        fake.secret_values[f"{kind}_20260101000000"] = made[kind]
    engine.use_factory(lambda _stack: fake)
    yield fake
    engine.use_factory(driver_for)


def config(port: int) -> dict[str, str]:
    return {"devsim_stack": "devsim", "lb_url": f"https://127.0.0.1:{port}", "prometheus_url": "http://127.0.0.1:9",
            "mailsink_url": "http://127.0.0.1:9"}


# A server as weak as the claims must refuse: TLS 1.0 up, any cipher (security level 0).
WEAK = (ssl.TLSVersion.TLSv1, "ALL:@SECLEVEL=0")
# As the edge is configured: TLS 1.2 up, ECDHE-ECDSA AEAD only.
STRONG = (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384")


def test_tls_1_1_is_seen_accepted_by_a_weak_server_and_refused_by_a_strong_one(
        made: dict[str, str], tmp_path: Path, edge: FakeDriver) -> None:
    weak_port, stop_weak = serve(server_context(made, tmp_path, *WEAK))
    strong_port, stop_strong = serve(server_context(made, tmp_path, *STRONG))
    try:
        assert security.edge_handshake("TLSv1_1", configuration=config(weak_port)).startswith("accepted: TLSv1.1 ")
        assert security.edge_handshake("TLSv1_1", configuration=config(strong_port)).startswith("refused: ")
        assert security.edge_handshake("TLSv1_2", configuration=config(strong_port)) == \
            "accepted: TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"
    finally:
        stop_weak.set()
        stop_strong.set()


def test_weak_ciphers_are_seen_accepted_by_a_weak_server_and_refused_by_a_strong_one(
        made: dict[str, str], tmp_path: Path, edge: FakeDriver) -> None:
    weak_only = "ECDHE-ECDSA-AES128-SHA:AES128-SHA:DES-CBC3-SHA"
    weak_port, stop_weak = serve(server_context(made, tmp_path, *WEAK))
    strong_port, stop_strong = serve(server_context(made, tmp_path, *STRONG))
    try:
        assert security.edge_handshake("TLSv1_2", weak_only, configuration=config(weak_port)) == \
            "accepted: TLSv1.2 ECDHE-ECDSA-AES128-SHA"
        assert security.edge_handshake("TLSv1_2", weak_only, configuration=config(strong_port)).startswith(
            "refused: ")
    finally:
        stop_weak.set()
        stop_strong.set()


def test_the_certificate_verifies_against_its_ca_and_not_another(made: dict[str, str], tmp_path: Path,
                                                                edge: FakeDriver) -> None:
    port, stop = serve(server_context(made, tmp_path, *STRONG))
    try:
        assert security.edge_certificate(configuration=config(port)).startswith("verified: localhost, until ")
        edge.config_values["tls_ca_20260101000000"] = tls.make("devsim", NOW)["tls_ca"]  # another CA
        assert security.edge_certificate(configuration=config(port)) == \
            "unverified: certificate signature failure"
    finally:
        stop.set()
