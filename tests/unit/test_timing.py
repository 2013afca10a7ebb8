"""Time to detect and to recover, from a request log written by hand: every expected figure
is worked out in the comments from the rows, not from the code."""

from __future__ import annotations

import pytest

from harness.load.clientlog import Request, Span
from harness.target.devsim import DevsimStack
from harness.verdict import timing

T0 = 1_800_000_000.0  # the fault starts here (seconds)

# the queries as runs record them (claim_series.json replays by query text)
LB_QUERY = 'sum(haproxy_backend_active_servers{job="lb",proxy="app"})'
ALERT_QUERY = 'max(ALERTS{alertstate="firing"})'
SIGNALS = DevsimStack().server_signals()


def req(start_s: float, latency_ms: float, ok: bool = True) -> Request:
    return Request(ts_ms=int((T0 + start_s) * 1000), name="GET /health", status=200 if ok else 503,
                   latency_ms=latency_ms, success=ok, item_id="", ack="")


# every 100 ms a 10 ms request; from 1.0 s to 2.5 s every request fails (503, 5 ms);
# one request started at 2.9 s hangs for 1.5 s and then succeeds (ends at 4.4 s)
ROWS = ([req(t / 10, 10) for t in range(-20, 10)] + [req(t / 10, 5, ok=False) for t in range(10, 26)]
        + [req(t / 10, 10) for t in range(26, 29)] + [req(2.9, 1500)] + [req(t / 10, 10) for t in range(45, 60)])


def test_client_detection_recovery_and_budget() -> None:
    found = timing.client_timing(ROWS, T0, T0 + 6.0)
    assert found.detect == {"client": 1.005}  # the first failure started at 1.0 s and took 5 ms
    assert found.recover == {"client": 2.505}  # the last one started at 2.5 s
    # requests that ended in [0, 6 s]: 10 before the failures, 16 failures, 3, the slow one, 15
    assert found.error_budget == {"failed": 16, "requests": 45, "objective": 0.999,
                                  "consumed": round(16 / (45 * 0.001), 4)}


def test_the_longest_outage_runs_from_the_last_success_to_the_next() -> None:
    # the last success before the failures ends at 0.91 s (started at 0.9), the next at 2.61:
    # 1.70 s; later the one ending at 2.81 and the hung one at 4.4: 1.59 s. The first is longest.
    found = timing.client_timing(ROWS, T0, T0 + 6.0)
    assert found.outage_window is not None
    assert [round(t - T0, 3) for t in found.outage_window] == [0.91, 2.61]
    assert found.outage_s == pytest.approx(1.70, abs=0.001)
    gaps = timing.outages(ROWS, min_gap_s=0.5)
    assert [(round(a - T0, 2), round(b - T0, 2)) for a, b in gaps] == [(0.91, 2.61), (2.81, 4.4)]


def test_a_run_without_failures_has_no_client_detection() -> None:
    quiet = [req(t / 10, 10) for t in range(0, 30)]
    found = timing.client_timing(quiet, T0, T0 + 3.0)
    assert (found.detect["client"], found.recover["client"], found.error_budget["failed"]) == (None, None, 0)


def test_server_side_detection_from_sampled_series() -> None:
    in_rotation = [(T0 - 2, 3.0), (T0 - 1, 3.0), (T0, 3.0), (T0 + 1, 3.0), (T0 + 2, 2.0), (T0 + 3, 2.0),
                   (T0 + 4, 3.0)]
    alerts = [(T0 + 7, 1.0), (T0 + 8, 1.0)]
    found = timing.with_server(timing.client_timing(ROWS, T0, T0 + 6), {"alert": alerts, "lb": in_rotation},
                               T0 + 12.5, SIGNALS)
    assert (found.detect["lb"], found.detect["alert"], found.recover["steady"]) == (2.0, 7.0, 12.5)
    assert timing.drop_detection([(T0 + 1, 2.0)], T0) is None  # no value at the start: nothing to compare with


def test_server_series_are_asked_from_5_s_before_the_fault() -> None:
    asked: list[tuple[str, float, float]] = []

    def matrix(query: str, start: float, end: float) -> list[list[tuple[float, float]]]:
        asked.append((query, start, end))
        return [[(start, 1.0)], [(start, 2.0)]] if "haproxy" in query else []

    found = timing.sample_server(matrix, T0, T0 + 0.5, {k: SIGNALS[k] for k in ("lb", "alert")})
    # the first series of each answer; none for the alerts; at least 1 s of range after the start
    assert found == {"lb": [(T0 - 5, 1.0)], "alert": []}
    assert asked == [(LB_QUERY, T0 - 5, T0 + 1), (ALERT_QUERY, T0 - 5, T0 + 1)]


def test_an_outage_outside_the_window_is_not_its_longest() -> None:
    # successes end at 0.01, 0.11, ..., 0.91, then 1.21, 1.31, ..., 1.91 s; then none until the
    # one sent at 10 s (ends 10.01): an 8.1 s outage that starts 1.91 s in; within [0, 1.5] the
    # longest gap is 0.91 -> 1.21
    rows = [req(t / 10, 10) for t in [*range(0, 10), *range(12, 20)]] + [req(10.0, 10)]
    def since(found: tuple[float, float] | None) -> tuple[float, float] | None:
        return None if found is None else (round(found[0] - T0, 3), round(found[1] - T0, 3))

    assert since(timing.longest_outage(rows, T0, T0 + 1.5)) == (0.91, 1.21)
    assert since(timing.longest_outage(rows, T0 + 2.0, T0 + 3.0)) == (1.91, 10.01)
    assert since(timing.longest_outage(rows, T0 + 10.5, T0 + 11.0)) is None


def test_the_outage_span_is_closed_when_requests_succeed_again() -> None:
    # ROWS: the longest stretch without a success overlapping [0, 6 s] is 0.91 -> 2.61 (1.70 s),
    # and successes follow to 5.91 s: closed
    assert timing.outage_span(ROWS, T0, T0 + 5.0) == Span(1.7)
    # no request overlaps [10, 11 s] (the last one ends at 5.91 s): nothing to judge
    assert timing.outage_span(ROWS, T0 + 10, T0 + 11) is None
    # every request of a window fails and nothing succeeds after: open, to the log's end
    down = [req(t / 10, 10) for t in range(0, 10)] + [req(t / 10, 10, ok=False) for t in range(10, 30)]
    assert timing.outage_span(down, T0 + 1.0, T0 + 2.0) == Span(2.0, open=True)  # 0.91 -> 2.91 (the last end)


def test_the_recovery_span_ends_at_the_last_failure_before_a_success() -> None:
    # ROWS: the last failed request started at 2.5 s and took 5 ms; successes follow
    assert timing.recovery_span(ROWS, T0, T0 + 5.0) == Span(2.505)
    assert timing.recovery_span(ROWS, T0 + 3.0, T0 + 5.0) == Span(0.0)  # none failed after 3 s, log to 5.91
    assert timing.recovery_span(ROWS, T0 + 3.0, T0 + 7.0) is None  # the log ends at 5.91 s, before 7


def test_the_server_figures_keep_every_client_figure() -> None:
    client = timing.Timing(100.0, {"client": 1.5}, {"client": 4.25}, 2.75, (101.0, 103.75),
                           {"failed": 3, "requests": 50, "objective": 0.999, "consumed": 60.0})
    found = timing.with_server(client, {"alert": [], "lb": []}, steady_at=107.12345, signals=SIGNALS)
    assert found == timing.Timing(100.0, {"client": 1.5, "alert": None, "lb": None},
                                  {"client": 4.25, "steady": 7.123}, 2.75, (101.0, 103.75),
                                  {"failed": 3, "requests": 50, "objective": 0.999, "consumed": 60.0})


# --- edges and digits (mutation testing found each) -------------------------------------------------

def test_figures_are_rounded_to_the_millisecond() -> None:
    rows = [req(-1, 12.3456), req(1, 123.45, ok=False), req(2, 10), req(4.5, 10)]
    found = timing.client_timing(rows, T0, T0 + 6)
    assert found.detect == {"client": 1.123}  # the failure ended at 1.12345 s
    assert found.recover == {"client": 1.123}
    assert found.outage_s == 2.998  # the longest gap between successes: from -0.9876544 s to 2.01 s
    assert timing.first_at([(T0 + 0.12345, 1.0)], T0, lambda v: v > 0) == 0.123


def test_a_request_ending_exactly_on_the_windows_edges_is_inside_it() -> None:
    rows = [req(-0.1, 100), req(5.9, 100)]  # end exactly at T0 and at T0 + 6
    assert timing.client_timing(rows, T0, T0 + 6).error_budget["requests"] == 2
    assert timing.client_timing(rows, T0, T0 + 5.999).error_budget["requests"] == 1


def test_no_request_and_no_outage_leave_the_figures_empty() -> None:
    found = timing.client_timing([], T0, T0 + 6)
    assert (found.outage_s, found.outage_window) == (None, None)
    assert found.error_budget == {"failed": 0, "requests": 0, "objective": 0.999, "consumed": None}


def test_an_outage_touching_the_window_at_either_edge_counts() -> None:
    before = [req(-3, 0), req(0, 0)]  # successes ending at -3 s and exactly at the start
    assert timing.longest_outage(before, T0, T0 + 6) == (T0 - 3, T0)
    after = [req(6, 0), req(9, 0)]  # from exactly the window's end
    assert timing.longest_outage(after, T0, T0 + 6) == (T0 + 6, T0 + 9)
    tie = [req(0, 0), req(2, 0), req(4, 0)]  # two gaps of 2 s: the first is kept
    assert timing.longest_outage(tie, T0, T0 + 6) == (T0, T0 + 2)


def test_first_at_counts_a_point_exactly_at_the_start() -> None:
    assert timing.first_at([(T0, 1.0)], T0, lambda v: v > 0) == 0.0


def test_recovery_span_edges() -> None:
    # the log ends exactly at the window's end, nothing failed: recovered in 0 s
    assert timing.recovery_span([req(0, 0), req(6, 0)], T0, T0 + 6) == Span(0.0)
    # a request ending exactly at the start counts as after it
    assert timing.recovery_span([req(-0.5, 500, ok=False), req(1, 0)], T0, T0 + 6) == Span(0.0)
    # a success ending with the last failure is not after it: not recovered, to the log's end
    assert timing.recovery_span([req(2, 500, ok=False), req(2.4, 100)], T0, T0 + 6) == Span(2.5, open=True)
    assert timing.recovery_span([req(1, 123.456, ok=False), req(3, 0)], T0, T0 + 6) == Span(1.123)
    assert timing.recovery_span([req(1, 0), req(2, 123.456, ok=False)], T0, T0 + 6) == Span(2.123, open=True)


def test_outage_span_needs_a_request_overlapping_the_window_edges_included() -> None:
    assert timing.outage_span([req(-1, 1000)], T0, T0 + 6) is not None  # ends exactly at the start
    assert timing.outage_span([req(6, 10)], T0, T0 + 6) is not None  # starts exactly at the end
    assert timing.outage_span([req(6.5, 10)], T0, T0 + 6) is None
