"""The harness's HTTP session against real servers on 127.0.0.1: HTTPS verified against a CA
file (the one that signed the server passes, another one fails as a TLS failure that says
so), a refused port, a server that never answers, a wrong status, a missing CA file. Each
failure is one line that names its cause, never "does not answer"."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from harness.config import Settings
from harness.errors import InfrastructureError
from harness.experiment.preflight import check_live
from harness.http import UP_HINT, Http, HttpFailed, http_for
from harness.target import tls

NOW = dt.datetime.now(dt.UTC)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 503 if self.path == "/sick" else 200
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def generation() -> dict[str, str]:
    return tls.make("devsim", NOW)


@pytest.fixture(scope="module")
def edge(generation: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """An HTTPS server with the edge certificate a stack's CA signed."""
    folder = tmp_path_factory.mktemp("edge")
    (folder / "cert.pem").write_text(generation["tls_edge_cert"])
    (folder / "key.pem").write_text(generation["tls_edge_key"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def ca_file(folder: Path, pem: str) -> Path:
    path = folder / "ca.pem"
    path.write_text(pem)
    return path


def test_the_ca_that_signed_the_edge_verifies_it(edge: int, generation: dict[str, str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    http = Http(ca_file(tmp_path, generation["tls_ca"]))
    assert http.get(f"https://127.0.0.1:{edge}/health", timeout=3).status_code == 200
    http.check(f"https://127.0.0.1:{edge}/health", "the edge")  # no error


def test_the_session_ignores_a_process_wide_ca_bundle(edge: int, generation: dict[str, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """What some commands once set and others did not: it must change nothing either way."""
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file(other, tls.make("other", NOW)["tls_ca"])))
    http = Http(ca_file(tmp_path, generation["tls_ca"]))
    assert http.get(f"https://127.0.0.1:{edge}/health", timeout=3).status_code == 200


def test_another_ca_is_a_tls_verification_failure_naming_the_ca_file(edge: int, tmp_path: Path) -> None:
    wrong = ca_file(tmp_path, tls.make("devsim", NOW)["tls_ca"])  # a CA of an earlier `up`, say
    with pytest.raises(HttpFailed) as raised:
        Http(wrong).check(f"https://127.0.0.1:{edge}/health", "the stack's load balancer")
    line = raised.value.one_line()
    assert line.startswith(f"the stack's load balancer: TLS verification failed: 127.0.0.1:{edge} presented a "
                           f"certificate that the CA in {wrong} does not verify")
    assert line.endswith(f"({UP_HINT})")
    assert "does not answer" not in line
    assert raised.value.exit_code == 2


def test_a_missing_ca_file_says_where_it_looked(edge: int, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "devsim-ca.pem"
    with pytest.raises(HttpFailed) as raised:
        Http(missing).check(f"https://127.0.0.1:{edge}/health", "the edge")
    assert raised.value.one_line() == (f"the edge: TLS verification of 127.0.0.1:{edge} impossible: no CA file at "
                                       f"{missing} ({UP_HINT})")


def test_a_refused_port_is_named_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening
        port = s.getsockname()[1]
        with pytest.raises(HttpFailed) as raised:
            Http(None).check(f"http://127.0.0.1:{port}/health", "the edge")
    assert raised.value.one_line() == f"the edge: 127.0.0.1:{port} refused the connection (nothing listens there)"


def test_a_server_that_never_answers_is_a_time_out() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)  # the kernel completes the handshake; nobody reads
        port = s.getsockname()[1]
        with pytest.raises(HttpFailed) as raised:
            Http(None).check(f"http://127.0.0.1:{port}/health", "the edge", timeout=0.3)
    assert raised.value.one_line() == f"the edge: 127.0.0.1:{port} did not answer within 0.3 s"


def test_a_wrong_status_names_it(edge: int, generation: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(HttpFailed) as raised:
        Http(ca_file(tmp_path, generation["tls_ca"])).check(f"https://127.0.0.1:{edge}/sick", "the edge")
    assert raised.value.one_line() == f"the edge: https://127.0.0.1:{edge}/sick answers 503, not 200"


def test_status_gives_the_cause_for_a_wait_line(edge: int, tmp_path: Path) -> None:
    wrong = ca_file(tmp_path, tls.make("devsim", NOW)["tls_ca"])
    found = Http(wrong).status(f"https://127.0.0.1:{edge}/health")
    assert isinstance(found, str)
    assert found.startswith("TLS verification failed")


def test_requests_failures_stay_requests_exceptions_for_probes_that_count_them(tmp_path: Path) -> None:
    with pytest.raises(requests.RequestException):
        Http(tmp_path / "missing.pem").get("https://127.0.0.1:1/", timeout=1)


def test_the_settings_name_the_ca_only_for_https(tmp_path: Path) -> None:
    assert http_for(Settings(state_dir=tmp_path)).ca_file == tmp_path / "devsim-ca.pem"
    assert http_for(Settings(state_dir=tmp_path, tls=False)).ca_file is None


def test_an_experiments_preflight_names_a_tls_failure_as_one(edge: int, tmp_path: Path) -> None:
    """`devsim run`'s check before any load: Prometheus (plain, here the same server's port is
    HTTPS-only, so a plain server plays it) and the edge over HTTPS with the wrong CA."""
    prometheus = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=prometheus.serve_forever, daemon=True).start()
    try:
        settings = Settings(lb_tls_port=edge, prometheus_port=prometheus.server_address[1], state_dir=tmp_path)
        settings.ca_file.write_text(tls.make("devsim", NOW)["tls_ca"])
        with pytest.raises(InfrastructureError) as raised:
            check_live(settings, http_for(settings), tmp_path / "x.yaml", {})
    finally:
        prometheus.shutdown()
        prometheus.server_close()
    assert raised.value.one_line().startswith("the stack's load balancer: TLS verification failed: ")
    assert str(settings.ca_file) in raised.value.one_line()
