"""The probes that ask the running stack at the moment (the load balancer over HTTP, the
engine, Prometheus' instant query), against a small HTTP server on 127.0.0.1 that plays the
load balancer and Prometheus, and the fake engine (tests/unit/fakedriver.py).

The integration tests run the same probes against the real stack; these pin what each does
with each kind of answer (a status, a timeout, nothing listening, a body that is not JSON),
which the real stack rarely gives on demand.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from chaoslib.exceptions import ActivityFailed

from harness.chaos import alerts, engine, probes, window
from harness.chaos.evidence import NoEvidence, OpenEnded, Refuted
from harness.driver import TaskInfo, driver_for
from harness.stack.waiting import Waiter
from tests.unit.fakedriver import FakeDriver
from tests.unit.httpstub import Answer, Holder, Script, Server, serving
from tests.unit.test_waiting_and_progress import FakeClock

STACK = "devsim-live-probes"


@pytest.fixture(scope="module")
def httpd() -> Iterator[tuple[str, Holder]]:
    with serving() as found:
        yield found


@pytest.fixture
def server(httpd: tuple[str, Holder]) -> Server:
    url, holder = httpd
    holder.script = Script()
    return Server(url, holder.script)


def config(url: str) -> dict[str, str]:
    return {"devsim_stack": STACK, "lb_url": url, "prometheus_url": url + "/prom", "mailsink_url": url + "/mail",
            "devsim_ca_file": ""}


@pytest.fixture
def fake() -> Iterator[FakeDriver]:
    driver = FakeDriver(STACK)
    engine.use_factory(lambda stack: driver if stack == STACK else FakeDriver(stack, services={}))
    yield driver
    engine.use_factory(driver_for)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there now


# --- the load balancer over HTTP -----------------------------------------------------------

def test_http_status_is_the_status_the_lb_answers(server: Server) -> None:
    server.script.answers[("GET", "/health")] = [Answer(200, "ok")]
    server.script.answers[("GET", "/ready")] = [Answer(503, "not ready")]
    assert probes.http_status(configuration=config(server.url)) == 200  # /health by default
    assert probes.http_status("/ready", configuration=config(server.url)) == 503
    assert probes.http_status("/nowhere", configuration=config(server.url)) == 404


def test_http_status_posts_the_form_it_is_given(server: Server) -> None:
    server.script.answers[("POST", "/api/items")] = [Answer(201, "{}")]
    status = probes.http_status("/api/items", method="POST", data={"name": "a b"}, configuration=config(server.url))
    assert status == 201
    assert server.script.seen[-1] == ("POST", "/api/items", "name=a+b")


def test_nothing_answering_is_status_0() -> None:
    assert probes.http_status(timeout=1, configuration=config(closed_port_url())) == 0


def test_an_answer_later_than_the_timeout_is_status_0_and_the_timeout_as_latency(server: Server) -> None:
    server.script.answers[("GET", "/slow")] = [Answer(200, "late", delay_s=1.5)]
    assert probes.http_status("/slow", timeout=0.3, configuration=config(server.url)) == 0
    latency = probes.http_latency_ms("/slow", timeout=0.3, configuration=config(server.url))
    assert 300 <= latency < 1400  # it gave up at the timeout, not when the answer came


def test_http_latency_is_how_long_the_answer_took_in_ms(server: Server) -> None:
    server.script.answers[("GET", "/health")] = [Answer(200, "ok", delay_s=0.25)]
    latency = probes.http_latency_ms(configuration=config(server.url))
    assert 250 <= latency < 2000
    assert latency == round(latency, 1)  # a tenth of a millisecond at most
    assert isinstance(latency, float)
    server.script.answers[("POST", "/api/items")] = [Answer(201, "{}", delay_s=0.2)]
    assert probes.http_latency_ms("/api/items", method="POST", data={"k": "v"}, configuration=config(server.url)) \
        >= 200
    assert server.script.seen[-1] == ("POST", "/api/items", "k=v")


def test_served_versions_are_the_distinct_versions_sorted(server: Server) -> None:
    server.script.answers[("GET", "/api/version")] = [
        Answer(200, json.dumps({"version": "v2"})), Answer(200, json.dumps({"version": "v1"})),
        Answer(200, json.dumps({"version": "v2"}))]
    assert probes.served_versions(samples=5, configuration=config(server.url)) == "v1,v2"
    assert len(server.script.seen) == 5  # as many requests as samples


@pytest.mark.parametrize("bad", [Answer(502, "<html>bad gateway</html>"), Answer(200, json.dumps({"name": "x"}))])
def test_an_answer_without_a_version_counts_as_no_answer(server: Server, bad: Answer) -> None:
    server.script.answers[("GET", "/api/version")] = [Answer(200, json.dumps({"version": "v1"})), bad]
    assert probes.served_versions(samples=3, configuration=config(server.url)) == "no answer,v1"


def test_served_versions_with_nothing_listening() -> None:
    assert probes.served_versions(samples=2, configuration=config(closed_port_url())) == "no answer"


def test_one_sample_sees_one_version(server: Server) -> None:
    server.script.answers[("GET", "/api/version")] = [Answer(200, json.dumps({"version": 3}))]
    assert probes.served_versions(samples=1, configuration=config(server.url)) == "3"


# --- the OAuth2 token endpoint, with the secret read from the running app -------------------

def _token_endpoint(server: Server, delay_s: float = 0.0) -> None:
    wanted = {"grant_type": ["client_credentials"], "client_id": ["loadtest"], "client_secret": ["s3cret"]}

    def answer(method: str, path: str, body: str) -> Answer:
        server.script.seen.append((method, path, body))
        ok = (method, path) == ("POST", "/api/auth/token") and parse_qs(body) == wanted
        return Answer(200 if ok else 401, "{}", delay_s)

    server.script.next = answer  # type: ignore[method-assign]


def test_token_status_uses_the_load_clients_secret_from_the_running_app(server: Server, fake: FakeDriver) -> None:
    _token_endpoint(server)
    fake.secret_values["oauth_clients"] = "admin:nope, loadtest:s3cret"
    assert probes.token_status(configuration=config(server.url)) == 200
    fake.secret_values["oauth_clients"] = "admin:nope,loadtest:wrong"
    assert probes.token_status(configuration=config(server.url)) == 401


def test_token_latency_and_timeout(server: Server, fake: FakeDriver) -> None:
    fake.secret_values["oauth_clients"] = "loadtest:s3cret"
    _token_endpoint(server, delay_s=0.25)
    assert 250 <= probes.token_latency_ms(configuration=config(server.url)) < 2000
    assert probes.token_status(timeout=0.1, configuration=config(server.url)) == 0


# --- Prometheus' instant query ----------------------------------------------------------------

def _vector(*values: float) -> str:
    result = [{"metric": {"instance": f"i{n}"}, "value": [1700000000.0, str(v)]} for n, v in enumerate(values)]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


def test_prometheus_value_sums_the_series(server: Server) -> None:
    server.script.answers[("GET", "/prom/api/v1/query")] = [Answer(200, _vector(1.5, 2.25))]
    assert probes.prometheus_value("up", configuration=config(server.url)) == 3.75
    assert "query=up" in server.script.seen[-1][2]


def test_prometheus_value_of_one_series(server: Server) -> None:
    server.script.answers[("GET", "/prom/api/v1/query")] = [Answer(200, _vector(0.0))]
    assert probes.prometheus_value("up", configuration=config(server.url)) == 0.0


def test_prometheus_value_with_no_series_is_no_evidence(server: Server) -> None:
    server.script.answers[("GET", "/prom/api/v1/query")] = [Answer(200, _vector())]
    with pytest.raises(NoEvidence, match="'absent_metric' returned no data"):
        probes.prometheus_value("absent_metric", configuration=config(server.url))


@pytest.mark.parametrize("answer", [Answer(400, json.dumps({"status": "error", "error": "parse error"}))])
def test_a_query_prometheus_rejects_fails_the_probe(server: Server, answer: Answer) -> None:
    server.script.answers[("GET", "/prom/api/v1/query")] = [answer]
    with pytest.raises(ActivityFailed, match=re.escape("Prometheus rejected 'sum(('")) as caught:
        probes.prometheus_value("sum((", configuration=config(server.url))
    assert not isinstance(caught.value, NoEvidence)  # an error, not a claim without evidence


# --- the engine ---------------------------------------------------------------------------------

def _set_running(fake: FakeDriver, service: str, running: int, total: int = 3) -> None:
    tasks = [TaskInfo(f"t{i}", i + 1, "img", "running" if i < running else "starting", "running")
             for i in range(total)]
    fake.task_states[service] = [*tasks, TaskInfo("old", 1, "img", "running", "shutdown")]


def test_ready_replicas_counts_running_tasks_meant_to_run(fake: FakeDriver) -> None:
    _set_running(fake, "app", 2)
    assert probes.ready_replicas("app", configuration=config(closed_port_url())) == 2  # not the one shutting down
    _set_running(fake, "app", 0)
    assert probes.ready_replicas("app", configuration=config(closed_port_url())) == 0


def test_running_versions_read_each_running_tasks_image_label(fake: FakeDriver) -> None:
    fake.add_image("img-v1", "sha256:" + "1" * 64, {"devsim.version": "v1"})
    fake.add_image("img-v2", "sha256:" + "2" * 64, {"devsim.version": "v2"})
    fake.add_image("img-bare", "sha256:" + "3" * 64, {})
    containers = fake.ctrs["app"]
    for c, image in zip(containers, ["img-v2", "img-v1", "img-v2"], strict=True):
        c.info = replace(c.info, image_id=image)
    assert probes.running_versions(configuration=config(closed_port_url())) == "v1,v2"
    containers[0].info = replace(containers[0].info, image_id="img-bare")
    containers[1].info = replace(containers[1].info, image_id="gone")
    assert probes.running_versions("app", configuration=config(closed_port_url())) == "?,v2"


def engine_changes(fake: FakeDriver, *steps: tuple[float, int]) -> None:
    """The engine changing how many app tasks run, in the background: (seconds from now, running)."""
    def run() -> None:
        started = time.monotonic()
        for at_s, running in steps:
            time.sleep(max(0.0, at_s - (time.monotonic() - started)))
            _set_running(fake, "app", running)

    threading.Thread(target=run, daemon=True).start()


def test_seconds_until_ready_counts_until_every_replica_runs_and_the_lb_is_ready(
        server: Server, fake: FakeDriver) -> None:
    server.script.answers[("GET", "/ready")] = [Answer(200, "ok")]
    _set_running(fake, "app", 2)  # the fault is already seen: no wait for the drop
    engine_changes(fake, (0.8, 3))  # the engine replaces the killed task
    took = probes.seconds_until_ready("app", 3, timeout=10, configuration=config(server.url))
    assert 0.8 <= took < 3.0
    assert took == round(took, 2)


def test_seconds_until_ready_waits_for_the_lb_too(server: Server, fake: FakeDriver) -> None:
    server.script.answers[("GET", "/ready")] = [Answer(503, "no")] * 4 + [Answer(200, "ok")]
    _set_running(fake, "app", 3)
    took = probes.seconds_until_ready("app", 3, timeout=10, expect_drop_s=0, configuration=config(server.url))
    assert 0.7 <= took < 3.0  # four checks answered 503, 0.25 s apart
    assert [p for _, p, _ in server.script.seen].count("/ready") == 5


def test_seconds_until_ready_first_gives_the_engine_time_to_notice_the_fault(server: Server, fake: FakeDriver) -> None:
    server.script.answers[("GET", "/ready")] = [Answer(200, "ok")]
    _set_running(fake, "app", 3)  # the engine has not seen the kill yet: wait up to expect_drop_s
    took = probes.seconds_until_ready("app", 3, timeout=10, expect_drop_s=0.6, configuration=config(server.url))
    assert 0.6 <= took < 2.5


def test_never_ready_is_refuted_with_the_time_waited_as_a_lower_bound(server: Server, fake: FakeDriver) -> None:
    server.script.answers[("GET", "/ready")] = [Answer(200, "ok")]
    _set_running(fake, "app", 1)
    with pytest.raises(Refuted, match=r"app: fewer than 3 ready replicas after 1\.2 s") as caught:
        probes.seconds_until_ready("app", 3, timeout=1.2, expect_drop_s=0.2, configuration=config(server.url))
    assert caught.value.at_least is not None
    assert 1.2 <= caught.value.at_least < 2.5


# --- Prometheus' range query over a window: live, recorded for `devsim judge`, replayed ----------

def _matrix(*series: list[tuple[float, float]]) -> str:
    result = [{"metric": {"i": str(n)}, "values": [[t, str(v)] for t, v in points]} for n, points in enumerate(series)]
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})


def test_a_range_query_is_summed_per_step_recorded_and_replayed(server: Server, tmp_path: Path) -> None:
    # two series over [100, 102]: sums 3, 7, 5
    server.script.answers[("GET", "/prom/api/v1/query_range")] = [
        Answer(200, _matrix([(100, 1), (101, 2), (102, 3)], [(100, 2), (101, 5), (102, 2)]))]
    kept = tmp_path / "claim-series.json"
    recording = {**config(server.url), probes.RECORD: str(kept)}
    assert probes.prometheus_over_window("up", "max", [100, 102], configuration=recording) == 7.0
    assert parse_qs(server.script.seen[-1][2])["query"] == ["up"]
    assert json.loads(kept.read_text()) == [{"query": ["up", 100.0, 102.0, 1.0],
                                             "series": [[[100.0, 1.0], [101.0, 2.0], [102.0, 3.0]],
                                                        [[100.0, 2.0], [101.0, 5.0], [102.0, 2.0]]]}]
    asked = len(server.script.seen)
    assert probes.prometheus_over_window("up", "last", [100, 102], configuration=config(server.url)) == 5.0
    assert len(server.script.seen) == asked + 1  # not recording: asked, not kept
    assert len(json.loads(kept.read_text())) == 1
    replay = {**config(closed_port_url()), probes.REPLAY: str(kept)}  # Prometheus is not asked
    assert probes.prometheus_over_window("up", "min", [100, 102], configuration=replay) == 3.0
    with pytest.raises(ActivityFailed, match=r"the run did not record 'down'"):
        probes.prometheus_over_window("down", "min", [100, 102], configuration=replay)


def test_a_range_query_with_a_missing_step_is_no_evidence(server: Server) -> None:
    server.script.answers[("GET", "/prom/api/v1/query_range")] = [Answer(200, _matrix([(100, 1), (102, 3)]))]
    with pytest.raises(NoEvidence, match=r"^'up' between 100 and 102: 1 of 3 steps have no sample$"):
        probes.prometheus_over_window("up", "max", [100, 102], configuration=config(server.url))


def test_a_range_query_prometheus_rejects_or_a_bad_aggregate_fails_the_probe(server: Server) -> None:
    server.script.answers[("GET", "/prom/api/v1/query_range")] = [Answer(400, json.dumps({"status": "error"}))]
    with pytest.raises(ActivityFailed, match=re.escape("Prometheus rejected 'sum(('")) as caught:
        probes.prometheus_over_window("sum((", "max", [100, 102], configuration=config(server.url))
    assert not isinstance(caught.value, NoEvidence)
    with pytest.raises(ActivityFailed, match=r"^aggregate must be one of max, min, avg, first, last, increase, "
                                             r"got 'p95'$"):
        probes.prometheus_over_window("up", "p95", [100, 102], configuration=config(server.url))


def test_the_run_window_starts_at_the_epoch() -> None:
    start, end = window.resolve_window("run")
    assert start == 0.0
    assert abs(end - time.time()) < 5


@pytest.mark.parametrize(("given", "message"), [
    ([1.0, 2.0, 3.0], "a window is [start, end], got [1.0, 2.0, 3.0]"),
    ("fortnight", "bad window 'fortnight': use fault, first-action, applied, run, 30s or [start, end]"),
])
def test_a_bad_window_is_named(given: window.Window, message: str) -> None:
    with pytest.raises(ActivityFailed) as caught:
        window.resolve_window(given)
    assert str(caught.value) == message


def test_no_request_log_names_what_to_do() -> None:
    with pytest.raises(ActivityFailed) as caught:
        window.request_log({**config(closed_port_url()), "request_log": ""})
    assert str(caught.value) == ("no client request log: run under `devsim run`, or set the request_log "
                                 "configuration to the requests.csv of a running `devsim load`")


# --- the client probes over a request log written by hand ---------------------------------------

LOG_HEADER = "ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n"


def _client_log(tmp_path: Path) -> dict[str, str]:
    """30 reads a second apart from t=1000 s (those at 1010-1013 s answered 503, each taking
    200 ms), and 30 writes at the same times that all succeed."""
    lines = []
    for i in range(30):
        ts = (1000 + i) * 1000
        failed = 10 <= i <= 13
        lines.append(f"{ts},GET /api/items/:id,GET,{503 if failed else 200},200,{0 if failed else 1},,,\n")
        lines.append(f"{ts + 1},POST /api/items,POST,201,50,1,,id{i},ack\n")
    path = tmp_path / "requests.csv"
    path.write_text(LOG_HEADER + "".join(lines))
    return {**config(closed_port_url()), "request_log": str(path)}


READS = "GET /api/items/:id"


def test_client_failed_requests_counts_the_failed_ones_of_a_name_in_the_window(tmp_path: Path) -> None:
    log = _client_log(tmp_path)
    assert probes.client_failed_requests([1000, 1030], READS, min_requests=30, configuration=log) == 4
    assert probes.client_failed_requests([1000, 1011], READS, min_requests=1, configuration=log) == 2
    assert probes.client_failed_requests([1000, 1030], "POST /api/items", min_requests=1, configuration=log) == 0
    with pytest.raises(NoEvidence) as caught:
        probes.client_failed_requests([1000, 1030], READS, min_requests=31, configuration=log)
    assert str(caught.value) == ("30 client requests named 'GET /api/items/:id' in the window; the figure needs at "
                                 "least 31")


def test_client_status_share_is_the_share_of_one_status(tmp_path: Path) -> None:
    log = _client_log(tmp_path)
    assert probes.client_status_share(503, [1000, 1030], READS, min_requests=30, configuration=log) == 4 / 30
    assert probes.client_status_share(200, [1010, 1019], READS, min_requests=1, configuration=log) == 0.6
    # reads and writes: 10 reads (4 of them 503) and 9 writes (the one at 1019.001 s is after the window)
    assert probes.client_status_share(503, [1010, 1019], configuration=log, min_requests=1) == 4 / 19
    with pytest.raises(NoEvidence):
        probes.client_status_share(503, [1010, 1019], READS, configuration=log)  # 10 requests: fewer than 20


def test_client_longest_failure_run_is_from_the_first_failures_start_to_the_last_ones_end(tmp_path: Path) -> None:
    log = _client_log(tmp_path)
    # 503s started at 1010 .. 1013 s, each took 0.2 s; the next read at 1014 succeeded: 3.2 s
    assert probes.client_longest_failure_run([1000, 1030], READS, min_requests=30, configuration=log) == 3.2
    assert probes.client_longest_failure_run([1000, 1030], "POST /api/items", min_requests=30,
                                             configuration=log) == 0.0
    with pytest.raises(NoEvidence):
        probes.client_longest_failure_run([1000, 1030], READS, min_requests=31, configuration=log)


def test_the_drop_is_looked_for_every_tenth_of_a_second(server: Server, fake: FakeDriver) -> None:
    server.script.answers[("GET", "/ready")] = [Answer(200, "ok")]
    _set_running(fake, "app", 3)
    # the kill noticed late, then the task replaced: a look once a second would miss it and wait out the 2.5 s
    engine_changes(fake, (0.3, 2), (0.7, 3))
    took = probes.seconds_until_ready("app", 3, timeout=10, expect_drop_s=2.5, configuration=config(server.url))
    assert 0.7 <= took < 2.4
    assert isinstance(took, float)
    assert took != int(took)


def test_a_ready_check_slower_than_1_s_is_not_ready(server: Server, fake: FakeDriver) -> None:
    server.script.answers[("GET", "/ready")] = [Answer(200, "ok", delay_s=1.5)]
    _set_running(fake, "app", 3)
    with pytest.raises(Refuted) as caught:
        probes.seconds_until_ready("app", 3, timeout=2.5, expect_drop_s=0, configuration=config(server.url))
    assert caught.value.at_least is not None
    assert caught.value.at_least != int(caught.value.at_least)


def test_the_time_spent_waiting_for_the_drop_counts_against_the_timeout(server: Server, fake: FakeDriver) -> None:
    server.script.answers[("GET", "/ready")] = [Answer(503, "no"), Answer(503, "no"), Answer(200, "ok")]
    _set_running(fake, "app", 3)
    with pytest.raises(Refuted):  # 0.6 s waiting for a drop that never came, of a 0.5 s timeout: one look
        probes.seconds_until_ready("app", 3, timeout=0.5, expect_drop_s=0.6, configuration=config(server.url))
    assert [p for _, p, _ in server.script.seen].count("/ready") == 1


def test_client_outage_seconds_says_why_it_has_no_figure(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text(LOG_HEADER + "1000000,GET /a,GET,200,5,1,,,\n1001000,GET /a,GET,503,5,0,,,\n"
                    "1002000,GET /a,GET,503,5,0,,,\n")
    log = {**config(closed_port_url()), "request_log": str(path)}
    with pytest.raises(NoEvidence) as none:
        probes.client_outage_seconds([2000, 2010], configuration=log)
    assert str(none.value) == "no client request overlaps the window"
    with pytest.raises(OpenEnded) as still:  # from the last success's end, 1000.005 s, to the log's, 1002.005 s
        probes.client_outage_seconds([1000.5, 1001.5], configuration=log)
    assert str(still.value) == "no client request succeeded for the rest of the log (at least 2 s)"


# --- what each HTTP probe asks of the stack's session: its configuration, method, timeout ----

class Recording:
    """The stack's HTTP session as the probes see it, answering 200 (and version v1) at once."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float | None]] = []

    def request(self, method: str, url: str, *, timeout: float, **_kwargs: object) -> object:
        self.calls.append((method, url, timeout))
        return type("Answer", (), {"status_code": 200})()

    def get(self, url: str, *, timeout: float, **_kwargs: object) -> object:
        self.calls.append(("GET", url, timeout))
        return type("Answer", (), {"json": lambda self: {"version": "v1"}})()


def test_each_http_probe_asks_with_its_default_timeout_through_the_configurations_session(
        monkeypatch: pytest.MonkeyPatch, fake: FakeDriver) -> None:
    fake.secret_values["oauth_clients"] = "loadtest:s3cret"
    session, asked_for = Recording(), []
    monkeypatch.setattr(engine, "http", lambda configuration: asked_for.append(configuration) or session)
    given = config("http://127.0.0.1:9")
    assert probes.http_status(configuration=given) == 200
    assert probes.http_latency_ms(configuration=given) >= 0
    assert probes.token_status(configuration=given) == 200
    assert probes.token_latency_ms(configuration=given) >= 0
    assert session.calls == [("GET", "http://127.0.0.1:9/health", 2), ("GET", "http://127.0.0.1:9/health", 5),
                             ("POST", "http://127.0.0.1:9/api/auth/token", 2),
                             ("POST", "http://127.0.0.1:9/api/auth/token", 5)]
    session.calls.clear()
    assert probes.served_versions(configuration=given) == "v1"
    assert session.calls == [("GET", "http://127.0.0.1:9/api/version", 2)] * 30
    assert asked_for == [given] * 5


def test_an_http_probes_latency_is_the_monotonic_clocks_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter([10.0, 10.25])  # the request started at 10.0 s and was answered at 10.25 s
    monkeypatch.setattr(engine, "http", lambda configuration: Recording())
    monkeypatch.setattr(probes.time, "monotonic", lambda: next(ticks))
    assert probes.http_latency_ms(configuration=config("http://127.0.0.1:9")) == 250.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A monotonic clock that moves only when something sleeps on it, for the probe and its waits."""
    found = FakeClock()
    monkeypatch.setattr(probes.time, "monotonic", found)
    monkeypatch.setattr(probes, "Waiter", lambda timeout, interval: Waiter(timeout, interval, found, found.sleep))
    monkeypatch.setattr(engine, "http", lambda configuration: Recording())  # /ready answers 200 at once
    return found


def test_seconds_until_ready_first_waits_3_s_for_the_engine_to_notice(clock: FakeClock, fake: FakeDriver) -> None:
    _set_running(fake, "app", 3)  # the engine never shows the drop: the whole 3 s are waited out
    assert probes.seconds_until_ready("app", 3, configuration=config("http://127.0.0.1:9")) == 3.0


def test_seconds_until_ready_gives_up_after_60_s_with_the_time_waited_to_the_hundredth(
        clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    def two_replicas(service: str, configuration: object) -> int:
        clock.sleep(0.0017)  # each look at the engine takes 1.7 ms
        return 2

    monkeypatch.setattr(probes, "ready_replicas", two_replicas)
    with pytest.raises(Refuted) as caught:
        probes.seconds_until_ready("app", 3, configuration=config("http://127.0.0.1:9"))
    # 60 s of waiting, and the 1.7 ms of the look that found the deadline passed: 60.0017 s,
    # shown as 60.0 (a hundredth of a second is as fine as this figure's clock is honest)
    assert caught.value.at_least == 60.0


# --- an alert's state, settled ---------------------------------------------------------------

def _alerts(*states: str) -> str:
    return json.dumps({"status": "success", "data": {"alerts": [
        {"labels": {"alertname": "AppDown"}, "state": state} for state in states]}})


def test_a_pending_alert_that_clears_within_settle_reads_inactive(server: Server) -> None:
    server.script.answers[("GET", "/prom/api/v1/alerts")] = [
        Answer(200, _alerts("pending")), Answer(200, _alerts("pending")), Answer(200, _alerts())]
    assert alerts.alert_state("AppDown", settle=5, configuration=config(server.url)) == "inactive"
    assert len(server.script.seen) == 3  # read again every half second until it left pending


def test_a_pending_alert_that_fires_within_settle_reads_firing(server: Server) -> None:
    server.script.answers[("GET", "/prom/api/v1/alerts")] = [Answer(200, _alerts("pending")),
                                                            Answer(200, _alerts("firing"))]
    assert alerts.alert_state("AppDown", settle=5, configuration=config(server.url)) == "firing"


def test_without_settle_or_past_it_pending_is_pending(server: Server) -> None:
    server.script.answers[("GET", "/prom/api/v1/alerts")] = [Answer(200, _alerts("pending"))]
    assert alerts.alert_state("AppDown", configuration=config(server.url)) == "pending"
    assert len(server.script.seen) == 1
    started = time.monotonic()
    assert alerts.alert_state("AppDown", settle=1.2, configuration=config(server.url)) == "pending"
    assert 1.2 <= time.monotonic() - started < 3
