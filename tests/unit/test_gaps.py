"""The longest gap between points that overlaps a window (harness.load.clientlog.longest_gap):
what write_unavailability and client_outage_seconds measure. Every figure by hand."""

from __future__ import annotations

from harness.load.clientlog import Request, longest_gap, write_gap
from harness.verdict.timing import Span


def test_the_longest_gap_overlapping_the_window_measured_whole() -> None:
    # gaps 10-12 (2 s) and 12-20 (8 s) both overlap [11, 19]; points on both sides: closed
    assert longest_gap([10, 12, 20], 11, 19, 25) == Span(8.0)


def test_a_gap_ending_exactly_at_the_windows_start_counts() -> None:
    assert longest_gap([5, 10, 11], 10, 10.5, 20) == Span(5.0)  # 5-10 touches the window


def test_gaps_are_rounded_to_the_millisecond() -> None:
    assert longest_gap([0, 1.23456], 0, 1, 2) == Span(1.235)


def test_no_point_before_the_window_is_an_open_gap_from_its_start() -> None:
    # nothing at or before 10: the gap runs from 10 (at least) to the first point, 18.12345
    assert longest_gap([18.12345, 19, 25], 10, 20, 30) == Span(8.123, open=True)


def test_a_point_exactly_at_the_windows_edges_closes_the_gap() -> None:
    assert longest_gap([10, 12], 10, 11, 20) == Span(2.0)  # a point at the start
    assert longest_gap([10, 15], 10, 15, 16) == Span(5.0)  # a point at the end


def test_no_point_after_the_last_before_the_end_runs_to_the_logs_end() -> None:
    assert longest_gap([10, 12.34567], 10, 20, 30.5) == Span(18.154, open=True)


def test_open_at_both_ends() -> None:
    assert longest_gap([15, 16], 10, 20, 30) == Span(14.0, open=True)  # 16 to the log's end at 30


def test_no_point_at_all_is_the_whole_window_to_the_logs_end() -> None:
    assert longest_gap([], 10, 20, 30) == Span(20.0, open=True)


def test_a_write_sent_exactly_at_either_edge_of_the_window_is_in_it() -> None:
    def write(ts_s: float, ack: str) -> Request:
        return Request(int(ts_s * 1000), "POST /api/items", 201 if ack == "ack" else 503, 10, ack == "ack", "w", ack)

    at_start = [write(90, "ack"), write(100, "fail"), write(120, "ack")]
    assert write_gap(at_start, 100, 110) == Span(30.0)  # from 90.01 to 120.01
    at_end = [write(90, "ack"), write(110, "fail"), write(120, "ack")]
    assert write_gap(at_end, 100, 110) == Span(30.0)
    assert write_gap(at_end, 100, 109.999) is None  # none sent inside
