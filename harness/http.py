"""The harness's one way to talk HTTP to the stack: a session that verifies HTTPS against the
stack's CA file, carried by whoever owns it (the command's RunContext, the extension's
engine), and failures that name their cause.

No process-wide setting decides what is trusted: the session ignores the environment
(`trust_env` off, so neither REQUESTS_CA_BUNDLE nor a proxy variable changes where a request
goes or what it trusts; everything the harness reaches is on 127.0.0.1). The CA file is read
when a connection is made, so a session made before `devsim up` rewrote the file trusts the
new CA on its next connection.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from harness.errors import InfrastructureError

if TYPE_CHECKING:
    from harness.config import Settings

UP_HINT = "run `devsim up` to refresh the CA"


class HttpFailed(InfrastructureError):
    """A request to the stack failed; the message names the cause (refused, timed out, TLS
    verification, wrong status), never just "does not answer"."""


class Http:
    """HTTP to the stack. `ca_file`: the CA that HTTPS answers must be signed by (None: plain
    HTTP only, or the system's CAs)."""

    def __init__(self, ca_file: Path | None) -> None:
        self.ca_file = ca_file
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.verify = str(ca_file) if ca_file is not None else True

    def request(self, method: str, url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
        """The response, or requests' own exception (callers that count failures keep it);
        `explain` turns one into a sentence."""
        try:
            return self._session.request(method, url, timeout=timeout, **kwargs)
        except OSError as exc:
            if isinstance(exc, requests.RequestException) or "CA certificate bundle" not in str(exc):
                raise
            # requests checks the CA path before connecting and raises a bare OSError
            raise requests.exceptions.SSLError(str(exc)) from exc

    def get(self, url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, timeout=timeout, **kwargs)

    def post(self, url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, timeout=timeout, **kwargs)

    def status(self, url: str, *, timeout: float = 2) -> int | str:
        """The status code, or why there is none (for a wait's progress line)."""
        try:
            return self.get(url, timeout=timeout).status_code
        except requests.RequestException as exc:
            return self.explain(exc, url, timeout)

    def check(self, url: str, what: str, *, timeout: float = 3, expect: int = 200) -> None:
        """Raises HttpFailed naming the cause unless `url` answers `expect`."""
        try:
            answer = self.get(url, timeout=timeout)
        except requests.RequestException as exc:
            raise HttpFailed(f"{what}: {self.explain(exc, url, timeout)}",
                             hint=UP_HINT if is_tls_failure(exc) else "") from exc
        if answer.status_code != expect:
            raise HttpFailed(f"{what}: {url} answers {answer.status_code}, not {expect}")

    def explain(self, exc: BaseException, url: str, timeout: float | None = None) -> str:
        """One clause naming why a request to `url` failed."""
        return explain(exc, url, self.ca_file, timeout)

    def close(self) -> None:
        self._session.close()


def http_for(settings: Settings) -> Http:
    """The session for `settings`' stack: HTTPS verified against its CA file (the development
    profile: plain HTTP). The CA is named by the settings alone, so every path to a request
    (a command, a wait inside `up`, an activity of the extension) trusts the same CA."""
    return Http(settings.edge_ca_file)


def is_tls_failure(exc: BaseException) -> bool:
    return isinstance(exc, requests.exceptions.SSLError)


def _root(exc: BaseException) -> BaseException:
    """The innermost cause, context, wrapped argument or `reason` (urllib3 wraps the socket's
    error twice); a chain that loops ends where it would repeat."""
    seen, visited = exc, {id(exc)}
    while True:
        inner = seen.__cause__ or seen.__context__ or getattr(seen, "reason", None) \
            or next(iter(a for a in seen.args[:1] if isinstance(a, BaseException)), None)
        if not isinstance(inner, BaseException) or id(inner) in visited:
            return seen
        seen = inner
        visited.add(id(inner))


def explain(exc: BaseException, url: str, ca_file: Path | None, timeout: float | None = None) -> str:
    """Why a request to `url` failed, as one clause: TLS verification (against which CA file),
    a TLS handshake, refused, timed out, reset; anything else by its type and text."""
    text = str(exc)
    where = urlsplit(url)
    address = f"{where.hostname}:{where.port or (443 if where.scheme == 'https' else 80)}"
    if isinstance(exc, requests.exceptions.SSLError):
        if "invalid path" in text or "suitable TLS CA" in text or (ca_file is not None and not ca_file.is_file()):
            return f"TLS verification of {address} impossible: no CA file at {ca_file}"
        against = f"the CA in {ca_file}" if ca_file is not None else "the system's CAs"
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            found = re.search(r"certificate verify failed: ([^()'\"]+?)\s*(?:\(_ssl|['\")]|$)", text)
            return (f"TLS verification failed: {address} presented a certificate that {against} does not verify"
                    + (f" ({found.group(1)})" if found else ""))
        return f"TLS handshake with {address} failed ({_short(text)})"
    if isinstance(exc, requests.exceptions.Timeout):
        within = f" within {timeout:g} s" if timeout is not None else ""
        stage = "accept a connection" if isinstance(exc, requests.exceptions.ConnectTimeout) else "answer"
        return f"{address} did not {stage}{within}"
    root = _root(exc)
    if isinstance(root, ConnectionRefusedError) or getattr(root, "errno", None) == errno.ECONNREFUSED \
            or "Connection refused" in text:
        return f"{address} refused the connection (nothing listens there)"
    if isinstance(root, ConnectionResetError) or "Connection reset" in text:
        return f"{address} reset the connection"
    if "RemoteDisconnected" in text or "closed connection without response" in text:
        return f"{address} closed the connection without an answer"
    return f"{address}: {type(exc).__name__} ({_short(text)})"


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
