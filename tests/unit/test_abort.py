"""Stop conditions (`abort_when`), offline: malformed ones are refused before any fault, and
the watch trips on the first value past a threshold, only while the method runs, and stops
the method once. The figures are fed by hand; the live trip is in tests/integration."""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from harness.config import PROJECT_ROOT
from harness.experiment import abort
from harness.experiment.validate import load, problems
from harness.load import clientlog
from tests.unit.httpstub import Answer, serving

EXPERIMENTS = PROJECT_ROOT / "experiments"


def with_conditions(*declared: Any) -> dict[str, Any]:
    experiment = copy.deepcopy(load(EXPERIMENTS / "app-instance-crash.yaml"))
    experiment["extensions"][0]["abort_when"] = list(declared)
    return experiment


@pytest.mark.parametrize(("condition", "problem"), [
    ({"name": "x", "above": 1}, "stop condition 'x' needs exactly one of figure (client_error_ratio, "
                                "client_p95_ms) or promql"),
    ({"name": "x", "figure": "client_error_ratio", "promql": "up", "above": 1}, "stop condition 'x' needs "
                                                                                "exactly one of figure"),
    ({"name": "x", "figure": "p99", "above": 1}, "stop condition 'x': figure must be one of client_error_ratio, "
                                                 "client_p95_ms, got 'p99'"),
    ({"name": "x", "figure": "client_error_ratio"}, "stop condition 'x' needs exactly one of above or below"),
    ({"name": "x", "figure": "client_error_ratio", "above": 0.2, "below": 0.1},
     "stop condition 'x' needs exactly one of above or below"),
    ({"name": "x", "figure": "client_error_ratio", "above": "20%"}, "stop condition 'x': the threshold must be a "
                                                                    "number"),
    ({"name": "x", "figure": "client_error_ratio", "above": 0.2, "over": 0}, "stop condition 'x': over must be a "
                                                                             "number of seconds above 0"),
    ({"name": "x", "promql": "up", "above": 1, "over": 5}, "stop condition 'x': over is for client figures"),
    ({"name": "x", "promql": 'sum(up{job="app"})', "below": 1}, "stop condition 'x': a below condition never trips "
                                                                 "on an empty result"),
    ({"name": "x", "figure": "client_error_ratio", "above": 0.2, "window": 5}, "stop condition 'x': unknown "
                                                                               "key(s) window"),
    ({"figure": "client_error_ratio", "above": 0.2}, "stop condition #1 must be a mapping with a name"),
])
def test_a_malformed_stop_condition_is_one_problem(condition: dict[str, Any], problem: str) -> None:
    found = abort.condition_problems(with_conditions(condition))
    assert len(found) == 1, found
    assert found[0].startswith(problem), found
    path = EXPERIMENTS / "x.yaml"
    assert any(p.startswith(f"{path}: {problem}") for p in problems(path, with_conditions(condition), ()))


@pytest.mark.parametrize("promql", ['sum(up{job="app"}) or vector(0)', 'sum(up) or  vector (1)',
                                    'absent(up{job="app"})', 'absent_over_time(up[5s])'])
def test_a_below_condition_that_says_what_an_empty_result_is_is_accepted(promql: str) -> None:
    assert abort.condition_problems(with_conditions({"name": "x", "promql": promql, "below": 1})) == []


def test_conditions_parse_with_their_defaults() -> None:
    found = abort.conditions(with_conditions({"name": "e", "figure": "client_error_ratio", "above": 0.2},
                                             {"name": "u", "promql": "sum(up)", "below": 1}))
    assert found == [abort.Condition("e", "client_error_ratio", "", 0.2, None, 5.0),
                     abort.Condition("u", "", "sum(up)", None, 1.0, 5.0)]
    assert found[0].trips(0.21)
    assert not found[0].trips(0.2)  # above means strictly above
    assert found[1].trips(0.0)
    assert not found[1].trips(1.0)


class Method:
    """A stand-in for Chaos Toolkit's method: a fault start, a running flag, a stop counter."""

    def __init__(self, start: float | None) -> None:
        self.start, self.running, self.stops = start, True, 0

    def stop(self) -> None:
        self.stops += 1
        self.running = False


def watch(method: Method, values: list[float | None], condition: abort.Condition) -> abort.Watch:
    feed = iter(values)

    def measure(c: abort.Condition, now: float) -> float | None:
        return next(feed, values[-1])

    return abort.Watch([condition], measure, lambda: method.start, lambda: method.running, method.stop,
                       interval=0.01)


RATIO = abort.Condition("errors", "client_error_ratio", "", 0.2, None, 5.0)


def test_the_first_value_past_the_threshold_trips_it_and_stops_the_method_once() -> None:
    method = Method(start=time.time() - 3)
    with watch(method, [0.0, None, 0.1, 0.35, 0.9], RATIO) as w:
        deadline = time.time() + 5
        while w.tripped is None and time.time() < deadline:
            time.sleep(0.01)
    assert w.tripped is not None
    assert w.tripped.value == 0.35
    assert method.stops == 1
    assert w.tripped.reason().startswith("aborted: stop condition 'errors' tripped 3.")
    assert "client_error_ratio over 5 s above 0.2; measured 0.35" in w.tripped.reason()


def test_nothing_trips_before_the_fault_starts_or_below_the_threshold() -> None:
    before = Method(start=None)
    with watch(before, [0.9], RATIO) as w:
        time.sleep(0.2)
    assert (w.tripped, before.stops) == (None, 0)
    calm = Method(start=time.time())
    with watch(calm, [0.0, 0.2, 0.05], RATIO) as w:
        time.sleep(0.2)
    assert (w.tripped, calm.stops) == (None, 0)


def test_a_figure_that_cannot_be_read_is_noted_not_tripped() -> None:
    method = Method(start=time.time())

    def broken(c: abort.Condition, now: float) -> float | None:
        raise ConnectionError("Prometheus away")

    with abort.Watch([RATIO], broken, lambda: method.start, lambda: method.running, method.stop,
                     interval=0.01) as w:
        time.sleep(0.1)
    assert w.tripped is None
    assert w.errors
    assert w.errors[0] == "errors: ConnectionError: Prometheus away"


def test_the_request_log_is_followed_incrementally(tmp_path: Path) -> None:
    """The watch reads only what was appended since its last look; a line being written is
    left for the next one, and rows older than the kept span (by start time) are dropped."""
    log = tmp_path / "requests.csv"
    header = "ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n"
    log.write_text(header + "1000,GET /a,GET,200,5,1,,,\n2000,GET /a,GET,503,5,0,HTTP 503,,\n3000,GET /a,GE")
    follower = clientlog.Follower(log, keep_s=1.5)
    assert [(r.ts_ms, r.success) for r in follower.rows()] == [(1000, True), (2000, False)]
    with log.open("a") as fh:
        fh.write("T,200,5,1,,,\n4000,GET /a,GET,200,5,1,,,\n")
    # 3000 and 4000 are new; 1000 and 2000 are more than 1.5 s older than 4000
    assert [r.ts_ms for r in follower.rows()] == [3000, 4000]
    assert [r.ts_ms for r in follower.rows()] == [3000, 4000]  # nothing appended: nothing new


def test_client_figures_are_measured_over_the_last_seconds_of_the_log(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    rows = [f"{t * 1000},GET /a,GET,{503 if t >= 8 else 200},{t * 10},{0 if t >= 8 else 1},,,\n" for t in range(10)]
    log.write_text("ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n" + "".join(rows))
    measure = abort.measurer(log, "http://127.0.0.1:9")  # no PromQL condition: Prometheus is never asked
    # the last 5 s before t=9: requests started at 4..9 s, of which 8 and 9 failed
    assert measure(RATIO, 9.0) == 2 / 6
    p95 = abort.Condition("slow", "client_p95_ms", "", 50.0, None, 5.0)
    assert measure(p95, 9.0) == 90.0  # nearest rank of 40..90 ms
    assert measure(RATIO, 100.0) is None  # nothing in the window: no figure, no trip


def test_the_follower_keeps_earlier_chunks_within_the_kept_span(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text("ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n1000,GET /a,GET,200,5,1,,,\n")
    follower = clientlog.Follower(log, keep_s=10)
    assert [r.ts_ms for r in follower.rows()] == [1000]
    with log.open("a") as fh:
        fh.write("2000,GET /a,GET,503,5,0,,,\n")
    assert [r.ts_ms for r in follower.rows()] == [1000, 2000]  # the first chunk's row is still within 10 s


# --- what the first tests above leave open (mutation testing found each) -------------------------

def test_abort_when_that_is_not_a_list_is_one_problem() -> None:
    experiment = with_conditions()
    experiment["extensions"][0]["abort_when"] = {"name": "x", "figure": "client_error_ratio", "above": 0.2}
    assert abort.condition_problems(experiment) == ["'abort_when' must be a list of stop conditions"]


def test_every_condition_is_checked_after_a_nameless_one() -> None:
    found = abort.condition_problems(with_conditions("not a mapping", {"name": "y", "figure": "p99", "above": 1}))
    assert found == ["stop condition #1 must be a mapping with a name",
                     "stop condition 'y': figure must be one of client_error_ratio, client_p95_ms, got 'p99'"]


@pytest.mark.parametrize("promql", ["  ", 42])
def test_promql_must_be_an_expression(promql: object) -> None:
    found = abort.condition_problems(with_conditions({"name": "x", "promql": promql, "above": 1}))
    assert found == ["stop condition 'x': promql must be a PromQL expression"]


def test_unknown_keys_are_named_together() -> None:
    found = abort.condition_problems(with_conditions(
        {"name": "x", "figure": "client_error_ratio", "above": 0.2, "window": 5, "after": 1}))
    assert found == ["stop condition 'x': unknown key(s) after, window"]


@pytest.mark.parametrize(("over", "ok"), [(0.5, True), (300, True), (300.5, False), (-1, False), (True, False)])
def test_over_is_a_number_of_seconds_up_to_300(over: object, ok: bool) -> None:
    found = abort.condition_problems(with_conditions(
        {"name": "x", "figure": "client_error_ratio", "above": 0.2, "over": over}))
    assert found == ([] if ok else ["stop condition 'x': over must be a number of seconds above 0 and at most 300"])


def test_a_below_condition_must_end_with_or_vector() -> None:
    found = abort.condition_problems(with_conditions({"name": "x", "promql": "sum(up)", "below": 1}))
    assert found == ["stop condition 'x': a below condition never trips on an empty result (every series gone); "
                     "end the query with `or vector(0)`"]


def test_over_is_parsed() -> None:
    [found] = abort.conditions(with_conditions({"name": "e", "figure": "client_p95_ms", "above": 800, "over": 12}))
    assert found == abort.Condition("e", "client_p95_ms", "", 800.0, None, 12.0)


def test_describe_and_the_tripped_record() -> None:
    small = abort.Condition("tiny", "client_error_ratio", "", 1e-06, None, 5.0)
    assert small.describe() == "client_error_ratio over 5 s above 1e-06"
    huge = abort.Condition("up", "", "sum(up) or vector(0)", None, 1e20)
    assert huge.describe() == "PromQL 'sum(up) or vector(0)' below 1e+20"
    tripped = abort.Tripped(small, 0.5, at=1003.14159, fault_start=1000.0)
    assert tripped.record().as_dict() == {
        "condition": "tiny", "figure": "client_error_ratio", "promql": "", "above": 1e-06, "below": None,
        "over": 5.0, "measured": 0.5, "at": 1003.14159, "seconds_into_fault": 3.142}


def _wait_for_trip(w: abort.Watch, seconds: float = 5.0) -> None:
    deadline = time.time() + seconds
    while w.tripped is None and time.time() < deadline:
        time.sleep(0.01)


def test_the_watch_keeps_looking_until_the_fault_starts() -> None:
    method = Method(start=None)
    with watch(method, [0.9], RATIO) as w:
        time.sleep(0.1)
        method.start = time.time()
        _wait_for_trip(w)
    assert w.tripped is not None
    assert method.stops == 1


def test_the_watch_keeps_looking_after_a_figure_could_not_be_read() -> None:
    method = Method(start=time.time())
    calls: list[tuple[abort.Condition, float]] = []

    def flaky(c: abort.Condition, now: float) -> float | None:
        calls.append((c, now))
        if len(calls) == 1:
            raise ConnectionError("Prometheus away")
        return 0.9

    with abort.Watch([RATIO], flaky, lambda: method.start, lambda: method.running, method.stop,
                     interval=0.01) as w:
        _wait_for_trip(w)
    assert w.tripped is not None
    assert w.errors == ["errors: ConnectionError: Prometheus away"]
    assert all(c is RATIO and abs(now - time.time()) < 5 for c, now in calls)  # the condition and the time now


def test_a_method_that_ended_meanwhile_is_not_stopped() -> None:
    method = Method(start=time.time())
    answers = iter([True])  # running when the watch looked, ended when the value came back

    def running() -> bool:
        return next(answers, False)

    with abort.Watch([RATIO], lambda c, now: 0.9, lambda: method.start, running, method.stop, interval=0.01) as w:
        _wait_for_trip(w)
    assert w.tripped is not None
    assert method.stops == 0


def test_the_watch_looks_every_second_by_default_in_a_daemon_thread() -> None:
    method = Method(start=time.time())
    started = time.monotonic()
    with abort.Watch([RATIO], lambda c, now: 0.9, lambda: method.start, lambda: method.running, method.stop) as w:
        [thread] = [t for t in threading.enumerate() if t.name == "devsim-abort-watch"]
        assert thread.daemon  # a measurement that hangs cannot keep the process alive
        _wait_for_trip(w)
    assert 0.9 <= time.monotonic() - started < 1.95  # a look every 2 s would take 2 s; room for a busy machine


def test_a_promql_condition_reads_the_first_sample_with_a_2_s_query_timeout(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text("ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n")
    up = abort.Condition("up", "", 'sum(up{job="app"}) or vector(0)', None, 1.0)
    vector = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1.0, "2"]}, {"metric": {"x": "1"}, "value": [1.0, "7"]}]}}
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    with serving() as (url, holder):
        holder.script.answers[("GET", "/api/v1/query")] = [Answer(200, json.dumps(vector)),
                                                           Answer(200, json.dumps(empty))]
        measure = abort.measurer(log, url)
        assert measure(up, time.time()) == 2.0
        assert measure(up, time.time()) is None
        asked = parse_qs(holder.script.seen[0][2])
    assert asked["query"] == ['sum(up{job="app"}) or vector(0)']
    assert asked["timeout"] == ["2s"]


def test_client_p95_is_the_95th_percentile(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    rows = [f"{1000 + t},GET /a,GET,200,{t + 1},1,,,\n" for t in range(100)]  # latencies 1 .. 100 ms
    log.write_text("ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n" + "".join(rows))
    p95 = abort.Condition("slow", "client_p95_ms", "", 50.0, None, 5.0)
    assert abort.measurer(log, "http://127.0.0.1:9")(p95, 2.0) == 95.0


def test_the_follower_keeps_a_row_exactly_the_kept_span_old_and_reads_whole_last_fields(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text("ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n")
    follower = clientlog.Follower(log, keep_s=1.5)
    assert follower.rows() == []  # a header alone: no rows, no error
    with log.open("a") as fh:
        fh.write("1000,POST /api/items,POST,201,5,1,,a,ack\n2500,POST /api/items,POST,201,5,1,,b,ack\n")
    assert [(r.ts_ms, r.ack) for r in follower.rows()] == [(1000, "ack"), (2500, "ack")]  # 1.5 s apart: kept


def test_the_follower_reads_a_line_that_is_not_utf8(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_bytes(b"ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n"
                    b"1000,GET /a,GET,0,5,0,conn reset \xff,,\n")
    [row] = clientlog.Follower(log, keep_s=10).rows()
    assert row.error == "conn reset \ufffd"


def test_a_condition_that_cannot_be_read_does_not_keep_the_next_one_from_tripping() -> None:
    method = Method(start=time.time() - 3)
    prometheus = abort.Condition("replicas", "", "sum(up)", None, 1.0)

    def measure(c: abort.Condition, now: float) -> float | None:
        if c is prometheus:
            raise ConnectionError("Prometheus away")
        return 0.9

    with abort.Watch([prometheus, RATIO], measure, lambda: method.start, lambda: method.running, method.stop,
                     interval=0.01) as w:
        deadline = time.time() + 5
        while w.tripped is None and time.time() < deadline:
            time.sleep(0.01)
    assert w.tripped is not None
    assert (w.tripped.condition, w.tripped.value, method.stops) == (RATIO, 0.9, 1)
    assert w.errors[0] == "replicas: ConnectionError: Prometheus away"
