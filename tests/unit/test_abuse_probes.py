"""The abuse probes (harness/chaos/abuse.py) against a small HTTP server that plays the edge:
each reads what was answered as it was answered, so a stack that answered bad input with a
5xx, served a data route without a token, cached a token or never rate-limited would fail
its claim in experiments/security-baseline.yaml. The real stack's answers are in
tests/integration/test_security.py."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from chaoslib.exceptions import ActivityFailed

from harness.chaos import abuse, engine
from harness.driver import driver_for
from tests.unit.fakedriver import FakeDriver
from tests.unit.httpstub import Answer, Holder, Script, Server, serving

STACK = "devsim-abuse-probes"
TOKEN = "header.body.signature"


@pytest.fixture(scope="module")
def httpd() -> Iterator[tuple[str, Holder]]:
    with serving() as found:
        yield found


@pytest.fixture
def server(httpd: tuple[str, Holder]) -> Iterator[Server]:
    url, holder = httpd
    holder.script = Script()
    holder.script.answers[("POST", "/api/auth/token")] = [Answer(200, json.dumps({"access_token": TOKEN}))]
    driver = FakeDriver(STACK)
    driver.secret_values["oauth_clients"] = "loadtest:s3cret"
    engine.use_factory(lambda stack: driver if stack == STACK else FakeDriver(stack, services={}))
    yield Server(url, holder.script)
    engine.use_factory(driver_for)


def config(url: str) -> dict[str, str]:
    return {"devsim_stack": STACK, "lb_url": url, "prometheus_url": url + "/prom", "mailsink_url": url + "/mail",
            "devsim_ca_file": ""}


@pytest.mark.parametrize("status", [400, 503])
def test_a_bad_read_is_sent_as_described_and_its_status_read_as_answered(server: Server, status: int) -> None:
    server.script.answers[("GET", "/api/items/a%00b")] = [Answer(status, "{}")]
    assert abuse.bad_input_status("nul-in-id-read", configuration=config(server.url)) == status
    assert server.script.seen == [("GET", "/api/items/a%00b", "")]
    assert server.script.authorization == [""]


def test_a_bad_write_carries_a_valid_token_so_that_the_input_is_what_is_judged(server: Server) -> None:
    server.script.answers[("POST", "/api/items")] = [Answer(503, '{"error": "database unavailable"}')]
    assert abuse.bad_input_status("nul-in-payload-write", configuration=config(server.url)) == 503
    token_ask, write = server.script.seen
    assert token_ask[:2] == ("POST", "/api/auth/token")
    assert "client_id=loadtest" in token_ask[2]
    assert "client_secret=s3cret" in token_ask[2]
    assert write[:2] == ("POST", "/api/items")
    assert json.loads(write[2])["payload"] == {"text": "a\u0000b"}
    assert server.script.authorization[-1] == f"Bearer {TOKEN}"


def test_the_deep_payload_is_nested_30000_levels_and_fits_the_64_kb_limit(server: Server) -> None:
    server.script.answers[("POST", "/api/items")] = [Answer(400, "{}")]
    assert abuse.bad_input_status("deep-payload-write", configuration=config(server.url)) == 400
    body = server.script.seen[-1][2]
    assert (body.count("["), body.count("]")) == (30_000, 30_000)
    assert len(body.encode()) < 64 * 1024


def test_an_unknown_kind_is_named_with_the_kinds(server: Server) -> None:
    with pytest.raises(ActivityFailed) as caught:
        abuse.bad_input_status("nul", configuration=config(server.url))
    assert str(caught.value).startswith("no bad-input kind 'nul'; the kinds are: nul-in-id-read, ")
    assert server.script.seen == []


@pytest.mark.parametrize(("route", "method", "path"), [("write", "POST", "/api/items"),
                                                       ("report", "GET", "/api/report")])
def test_a_route_served_without_a_token_is_read_as_served(server: Server, route: str, method: str,
                                                          path: str) -> None:
    server.script.answers[(method, path)] = [Answer(200, "{}")]
    assert abuse.without_token_status(route, configuration=config(server.url)) == 200
    assert server.script.authorization == [""]


@pytest.mark.parametrize(("headers", "expected"), [({"Cache-Control": "public, max-age=60"}, "public, max-age=60"),
                                                   ({}, "absent"), ({"Cache-Control": "no-store"}, "no-store")])
def test_the_token_answers_cache_header_is_read_as_sent(server: Server, headers: dict[str, str],
                                                        expected: str) -> None:
    server.script.answers[("POST", "/api/auth/token")] = [Answer(200, "{}", headers=headers)]
    assert abuse.token_response_header("Cache-Control", configuration=config(server.url)) == expected


@pytest.mark.parametrize(("body", "expected"), [
    ('{"ready": true, "postgres": "ok", "redis": "ok"}', "postgres,ready,redis"),  # a replica's
    ('{"ready": true, "replicas_ready": 3}', "ready,replicas_ready"),  # the edge's
    ("ready", "not JSON (200)"),
    ("[1]", "not an object (200)"),
])
def test_the_ready_answer_is_told_by_its_fields(server: Server, body: str, expected: str) -> None:
    server.script.answers[("GET", "/ready")] = [Answer(200, body)]
    assert abuse.edge_ready_fields(configuration=config(server.url)) == expected


def test_an_edge_path_is_read_as_served(server: Server) -> None:
    server.script.answers[("GET", "/metrics")] = [Answer(200, "http_requests_total 1")]
    assert abuse.edge_status("/metrics", configuration=config(server.url)) == 200


def test_a_burst_counts_the_status_asked_for_with_a_token_on_each_request(server: Server) -> None:
    server.script.answers[("GET", "/api/report")] = [Answer(429, "{}")] * 7 + [Answer(200, "{}")]
    assert abuse.rate_burst(requests_sent=20, concurrency=4, configuration=config(server.url)) == 7
    reports = [i for i, seen in enumerate(server.script.seen) if seen[1] == "/api/report"]
    assert len(reports) == 20
    assert {server.script.authorization[i] for i in reports} == {f"Bearer {TOKEN}"}


def test_one_burst_gives_every_count_for_claims_that_read_a_field_each(server: Server) -> None:
    server.script.answers[("GET", "/api/report")] = [Answer(429, "{}")] * 5 + [Answer(503, "{}")] * 2 + [
        Answer(200, "{}")]
    counts = abuse.rate_burst(requests_sent=10, concurrency=2, count="each", configuration=config(server.url))
    assert counts == {"429": 5, "503": 2, "200": 3, "5xx": 2}
    server.script.answers[("GET", "/api/report")] = [Answer(200, "{}")]
    assert abuse.rate_burst(requests_sent=3, concurrency=3, count="each", configuration=config(server.url)) == {
        "200": 3, "429": 0, "5xx": 0}


def test_a_burst_sends_its_first_wave_at_once_however_slow_a_client_is_to_connect(server: Server) -> None:
    # one client's first contact takes 0.6 s; each report takes 0.5 s: without the wait for
    # every client, the first wave would come over 0.6 s, and a slow edge would never see a burst
    server.script.answers[("GET", "/health")] = [Answer(200, "{}", delay_s=0.6), Answer(200, "{}")]
    server.script.answers[("GET", "/api/report")] = [Answer(200, "{}", delay_s=0.5)]
    assert abuse.rate_burst(requests_sent=12, concurrency=6, count="200", configuration=config(server.url)) == 12
    script = server.script
    reports = [at for (_, path, _), at in zip(script.seen, script.arrived, strict=True) if path == "/api/report"]
    first_wave = reports[:6]
    assert max(first_wave) - min(first_wave) < 0.2, first_wave
    assert min(reports[6:]) - max(first_wave) > 0.3  # the second wave waited for the answers


def test_a_burst_counts_5xx_and_missing_answers_as_server_errors(server: Server) -> None:
    server.script.answers[("GET", "/api/report")] = [Answer(503, "{}"), Answer(502, "{}"), Answer(500, "{}"),
                                                     Answer(429, "{}"), Answer(200, "{}", delay_s=0)]
    assert abuse.rate_burst(requests_sent=10, concurrency=2, count="5xx", configuration=config(server.url)) == 3
    server.script.answers[("GET", "/api/report")] = [Answer(200, "{}", delay_s=1)]  # past the time-out
    assert abuse.rate_burst(requests_sent=2, concurrency=2, count="5xx", timeout=0.3,
                            configuration=config(server.url)) == 2


@pytest.mark.parametrize(("sent", "concurrency"), [(0, 1), (2001, 1), (10, 0), (10, 101)])
def test_a_burst_is_bounded(server: Server, sent: int, concurrency: int) -> None:
    with pytest.raises(ActivityFailed) as caught:
        abuse.rate_burst(requests_sent=sent, concurrency=concurrency, configuration=config(server.url))
    assert str(caught.value) == "a burst is 1 to 2000 requests, 1 to 100 at a time"
