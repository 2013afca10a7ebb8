"""Stop conditions (`abort_when`), offline: malformed ones are refused before any fault, and
the watch trips on the first value past a threshold, only while the method runs, and stops
the method once. The figures are fed by hand; the live trip is in tests/integration."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from harness.config import PROJECT_ROOT
from harness.experiment import abort
from harness.experiment.validate import load, problems
from harness.load import clientlog

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
