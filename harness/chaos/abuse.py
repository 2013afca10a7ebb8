"""Abuse probes: what the edge answers requests a client should not be able to hurt it with.

A 5xx is the stack's own alarm: it fires the error-ratio alerts and makes the deploy guard
roll a release back. So bad input must be answered 4xx, routes that cost the database need
a token, and the edge caps the rates that would exhaust the database pools. Each probe sends
one kind of request through the edge, as any client could, and answers with what came back
(a status, a header, a count): the claims in experiments/security-baseline.yaml judge them.
Nothing here changes data that anything reads: a bad write is refused before it is stored.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from chaoslib.types import Configuration

from harness.chaos import engine, tokens
from harness.chaos.engine import activity
from harness.errors import InfrastructureError
from harness.http import Http
from harness.target import secrets

__all__ = ["bad_input_status", "edge_ready_fields", "edge_status", "rate_burst", "token_response_header",
           "without_token_status"]

DEEP = 30_000  # levels of nesting a 64 kB body can carry ("[" and "]" each)


def _item(**fields: Any) -> dict[str, Any]:
    return {"method": "POST", "path": "/api/items", "json": {"id": f"abuse-{uuid.uuid4()}", "payload": {}, **fields}}


# kind -> the request: method, path, and a JSON value or a raw body. Writes carry a valid token,
# so that what is judged is the input and not the missing token.
BAD_INPUT: dict[str, dict[str, Any]] = {
    "nul-in-id-read": {"method": "GET", "path": "/api/items/a%00b"},
    "bad-percent-encoding-read": {"method": "GET", "path": "/api/items/%FF"},  # not UTF-8
    "long-id-read": {"method": "GET", "path": "/api/items/" + "x" * 129},
    "nul-in-id-write": _item(id="a\u0000b"),
    "control-character-in-id-write": _item(id="a\nb"),
    "nul-in-payload-write": _item(payload={"text": "a\u0000b"}),
    "nul-in-payload-key-write": _item(payload={"a\u0000b": 1}),
    "lone-surrogate-in-payload-write": {"method": "POST", "path": "/api/items",
                                        "body": '{"id": "abuse-surrogate", "payload": "\\ud800"}'},
    "deep-payload-write": {"method": "POST", "path": "/api/items",
                           "body": '{"id": "abuse-deep", "payload": ' + "[" * DEEP + "]" * DEEP + "}"},
    "malformed-json-write": {"method": "POST", "path": "/api/items", "body": '{"id": "abuse-malformed", '},
    "oversized-write": _item(payload="x" * 100_000),
}


def _token(configuration: Configuration) -> str:
    return tokens.issue(engine.http(configuration), engine.target(configuration).lb_url,
                        secrets.client_secret(engine.driver(configuration)))


def _send(http: Http, url: str, request: dict[str, Any], headers: dict[str, str], timeout: float = 10) -> int:
    kwargs: dict[str, Any] = {"headers": dict(headers)}
    if "json" in request:
        kwargs["json"] = request["json"]
    elif "body" in request:
        kwargs["data"] = request["body"].encode()
        kwargs["headers"]["Content-Type"] = "application/json"
    return http.request(request["method"], url + request["path"], timeout=timeout, **kwargs).status_code


@activity
def bad_input_status(kind: str, configuration: Configuration = None) -> int:
    """The status the edge answers one bad request of `kind` (a key of BAD_INPUT) with: 4xx is
    a refusal, 5xx the alarm the client should not be able to raise."""
    if kind not in BAD_INPUT:
        raise InfrastructureError(f"no bad-input kind {kind!r}; the kinds are: {', '.join(BAD_INPUT)}")
    request = BAD_INPUT[kind]
    headers = {"Authorization": f"Bearer {_token(configuration)}"} if request["method"] == "POST" else {}
    return _send(engine.http(configuration), engine.target(configuration).lb_url, request, headers)


ROUTES: dict[str, dict[str, Any]] = {
    "write": {"method": "POST", "path": "/api/items", "json": {"id": "abuse-no-token", "payload": {}}},
    "report": {"method": "GET", "path": "/api/report"},
}


@activity
def without_token_status(route: str, configuration: Configuration = None) -> int:
    """What a route that costs the database (`write` or `report`) answers a request without a
    token: 401 is a refusal."""
    if route not in ROUTES:
        raise InfrastructureError(f"no route {route!r}; the routes are: {', '.join(ROUTES)}")
    return _send(engine.http(configuration), engine.target(configuration).lb_url, ROUTES[route], {})


@activity
def token_response_header(name: str = "Cache-Control", configuration: Configuration = None) -> str:
    """A header of the token endpoint's answer to a valid request ("absent" when not sent)."""
    client_id, secret = secrets.client_secret(engine.driver(configuration))
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    answer = engine.http(configuration).post(f"{engine.target(configuration).lb_url}/api/auth/token", data=form,
                                             timeout=5)
    return answer.headers.get(name, "absent")


@activity
def edge_status(path: str, configuration: Configuration = None) -> int:
    """The status a GET of `path` at the edge is answered with."""
    return engine.http(configuration).get(engine.target(configuration).lb_url + path, timeout=5).status_code


@activity
def edge_ready_fields(configuration: Configuration = None) -> str:
    """The fields of the edge's `/ready` answer, sorted and comma-joined: whose answer it is
    (a replica's names its dependencies)."""
    answer = engine.http(configuration).get(engine.target(configuration).lb_url + "/ready", timeout=5)
    try:
        body = answer.json()
    except ValueError:
        return f"not JSON ({answer.status_code})"
    return ",".join(sorted(body)) if isinstance(body, dict) else f"not an object ({answer.status_code})"


@activity
def rate_burst(path: str = "/api/report", requests_sent: int = 120, concurrency: int = 64, count: str = "429",
               timeout: float = 10, configuration: Configuration = None) -> int | dict[str, int]:
    """Sends `requests_sent` GETs of `path` with a valid token from `concurrency` clients, and
    answers how many were answered `count`: a status ("429"), or a class ("5xx"; "no answer"
    counts as 5xx, as a client sees it, after `timeout` seconds); with `count` "each", every
    status's count and "5xx", for claims that read a field each (one burst, not one a claim).

    Each client first opens its kept-alive connection (a GET of /health), then all send their
    first request at once, then the rest as their answers come. The first wave alone is
    `concurrency` requests within a moment, whatever the answers' speed: a burst that only
    kept `concurrency` in flight offered the edge concurrency / latency a second, under the
    report's limit on a busy machine (CI: no 429 to see)."""
    if not 1 <= requests_sent <= 2000 or not 1 <= concurrency <= 100:
        raise InfrastructureError("a burst is 1 to 2000 requests, 1 to 100 at a time")
    base = engine.target(configuration).lb_url
    headers = {"Authorization": f"Bearer {_token(configuration)}"}
    ca_file = engine.http(configuration).ca_file
    clients = min(concurrency, requests_sent)
    start = threading.Barrier(clients)
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def client(share: int) -> None:
        http = Http(ca_file)
        with contextlib.suppress(requests.RequestException):
            http.get(base + "/health", timeout=timeout)
        with contextlib.suppress(threading.BrokenBarrierError):  # one that could not connect in time
            start.wait(timeout=60)
        for _ in range(share):
            try:
                status = str(http.get(base + path, headers=headers, timeout=timeout).status_code)
            except requests.RequestException:
                status = "no answer"
            with lock:
                seen[status] += 1

    shares = [requests_sent // clients + (1 if n < requests_sent % clients else 0) for n in range(clients)]
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, shares))
    server_errors = sum(n for status, n in seen.items() if status.startswith("5") or status == "no answer")
    if count == "each":
        return {**seen, "5xx": server_errors, "429": seen.get("429", 0)}
    if count == "5xx":
        return server_errors
    return seen.get(count, 0)
