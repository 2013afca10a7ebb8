"""The request log read by window through its block index gives exactly what reading the
whole log and filtering it gives: on the recorded runs, on logs out of start order, on a log
that grows while it is read, and on one replaced under the same name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.load import clientlog, logindex
from harness.verdict import timing

DATA = Path(__file__).parent / "data"
RECORDED = sorted(DATA.glob("*/requests.csv"))
HEADER = "ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n"


def whole(path: Path, start: float, end: float, name: str = "") -> list[clientlog.Request]:
    return clientlog.within(clientlog.read(path), start, end, name)


def line(ts_ms: int, name: str = "GET /x", ok: bool = True) -> str:
    return f"{ts_ms},{name},GET,{200 if ok else 0},5.00,{int(ok)},{'' if ok else 'refused'},,\n"


@pytest.mark.parametrize("path", RECORDED, ids=[p.parent.name for p in RECORDED])
@pytest.mark.parametrize("block_lines", [1, 7, 64, 4096])
def test_every_window_of_a_recorded_log_reads_as_the_whole_log_filtered(path: Path, block_lines: int) -> None:
    rows = clientlog.read(path)
    first, last = rows[0].ts_ms / 1000, rows[-1].ts_ms / 1000
    index = logindex.LogIndex(path, block_lines)
    names = sorted({r.name for r in rows})
    span = last - first
    windows = [(first, last), (first - 5, first + 0.5), (last - 0.001, last + 9), (last + 1, last + 2)]
    windows += [(first + span * k / 10, first + span * k / 10 + width) for k in range(10) for width in (0.25, 3.0)]
    for start, end in windows:
        assert index.within(start, end) == whole(path, start, end), (start, end)
    for name in names:
        assert index.within(first + span / 3, last, name) == whole(path, first + span / 3, last, name)


def test_a_small_log_out_of_order_gives_the_rows_of_the_window_sorted_by_start(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text(HEADER + line(1000) + line(3000) + line(2000, ok=False) + line(5000) + line(4000, "GET /y")
                   + line(2500))
    index = logindex.LogIndex(log, 2)
    assert [b.lowest_ms for b in index_blocks(index)] == [1000, 2000, 2500]
    assert [b.highest_ms for b in index_blocks(index)] == [3000, 5000, 4000]
    found = index.within(2.0, 4.0)
    assert [(r.ts_ms, r.name, r.success) for r in found] == [(2000, "GET /x", False), (2500, "GET /x", True),
                                                             (3000, "GET /x", True), (4000, "GET /y", True)]
    assert [r.ts_ms for r in index.within(2.0, 4.0, "GET /y")] == [4000]
    assert index.within(6.0, 7.0) == []


def index_blocks(index: logindex.LogIndex) -> list[logindex.Block]:
    index.refresh()
    return index.blocks


def test_a_growing_log_is_indexed_from_where_it_stopped_and_a_half_written_line_waits(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text(HEADER + line(1000) + line(2000))
    index = logindex.LogIndex(log, 2)
    assert [r.ts_ms for r in index.within(0, 10)] == [1000, 2000]
    with log.open("a") as fh:
        fh.write(line(3000) + line(4000)[:7])  # a line being written
    assert [r.ts_ms for r in index.within(0, 10)] == [1000, 2000, 3000]
    with log.open("a") as fh:
        fh.write(line(4000)[7:] + line(1500))
    assert [r.ts_ms for r in index.within(0, 10)] == [1000, 1500, 2000, 3000, 4000]
    assert [r.ts_ms for r in index.within(0, 10)] == [r.ts_ms for r in whole(log, 0, 10)]


def test_a_log_replaced_under_the_same_name_is_indexed_again(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text(HEADER + line(1000) + line(2000) + line(3000))
    assert [r.ts_ms for r in logindex.within(log, 0, 10)] == [1000, 2000, 3000]
    replacement = tmp_path / "new.csv"
    replacement.write_text(HEADER + line(7000))
    os.replace(replacement, log)
    assert [r.ts_ms for r in logindex.within(log, 0, 10)] == [7000]


def test_a_log_whose_first_column_is_not_the_start_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text("name,ts_ms,method,status,latency_ms,success,error,item_id,ack\n"
                   "GET /x,1000,GET,200,5.00,1,,,\nGET /x,9000,GET,200,5.00,1,,,\n")
    assert [r.ts_ms for r in logindex.LogIndex(log, 1).within(8.0, 10.0)] == [9000]


@settings(max_examples=60, deadline=None)
@given(starts=st.lists(st.integers(min_value=0, max_value=60_000), min_size=1, max_size=80),
       block_lines=st.integers(min_value=1, max_value=9),
       window=st.tuples(st.integers(min_value=-1000, max_value=61_000), st.integers(min_value=0, max_value=20_000)))
def test_any_log_in_any_order_reads_by_window_as_whole(tmp_path_factory: pytest.TempPathFactory, starts: list[int],
                                                        block_lines: int, window: tuple[int, int]) -> None:
    log = tmp_path_factory.mktemp("log") / "requests.csv"
    log.write_text(HEADER + "".join(line(ts, f"GET /{ts % 3}", ok=ts % 5 != 0) for ts in starts))
    start, end = window[0] / 1000, (window[0] + window[1]) / 1000
    assert logindex.LogIndex(log, block_lines).within(start, end) == whole(log, start, end)
    assert logindex.LogIndex(log, block_lines).within(start, end, "GET /1") == whole(log, start, end, "GET /1")


def by_end_agrees(path: Path, block_lines: int) -> None:
    rows = clientlog.read(path)
    streamed = list(logindex.by_end(path, block_lines))
    assert [r.end_ms for r in streamed] == sorted(r.end_ms for r in rows)
    assert sorted(streamed, key=lambda r: (r.end_ms, r.ts_ms, r.name, r.latency_ms, r.success)) == \
        sorted(rows, key=lambda r: (r.end_ms, r.ts_ms, r.name, r.latency_ms, r.success))
    if not rows:
        return
    first, last = rows[0].ts_ms / 1000, max(r.end_ms for r in rows) / 1000
    for start, end in ((first, last), (first + (last - first) / 3, last), (first, first + (last - first) / 2)):
        assert timing.client_timing_by_end(logindex.by_end(path, block_lines), start, end) == \
            timing.client_timing(rows, start, end)


@pytest.mark.parametrize("path", RECORDED, ids=[p.parent.name for p in RECORDED])
@pytest.mark.parametrize("block_lines", [1, 7, 4096])
def test_a_recorded_log_in_the_order_requests_ended_gives_the_same_timing(path: Path, block_lines: int) -> None:
    by_end_agrees(path, block_lines)


def test_requests_come_out_in_the_order_they_ended(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text(HEADER + line(1000).replace("5.00", "900.00") + line(1500) + line(1200).replace("5.00", "50.00")
                   + line(1800))
    assert [r.end_ms for r in logindex.by_end(log, 1)] == [1250.0, 1505.0, 1805.0, 1900.0]


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(min_value=0, max_value=20_000), st.integers(min_value=0, max_value=400_000),
                               st.booleans()), max_size=60),
       block_lines=st.integers(min_value=1, max_value=9))
def test_any_log_streams_by_end_to_the_same_timing(tmp_path_factory: pytest.TempPathFactory,
                                                   rows: list[tuple[int, int, bool]], block_lines: int) -> None:
    log = tmp_path_factory.mktemp("log") / "requests.csv"
    log.write_text(HEADER + "".join(line(ts, ok=ok).replace("5.00", f"{centi / 100:.2f}") for ts, centi, ok in rows))
    by_end_agrees(log, block_lines)


def test_reading_the_whole_log_skips_a_line_still_being_written(tmp_path: Path) -> None:
    """Read during a run, the log's last line may be cut short: it is no request (it read as a
    failed one, status 0, before the columns were checked)."""
    log = tmp_path / "requests.csv"
    log.write_text(HEADER + line(1000) + line(2000)[:20])
    assert [(r.ts_ms, r.success) for r in clientlog.read(log)] == [(1000, True)]


def test_a_log_truncated_and_written_again_in_place_is_indexed_again(tmp_path: Path) -> None:
    """Locust opens its log with "w": a second run in the same place keeps the inode."""
    log = tmp_path / "requests.csv"
    log.write_text(HEADER + line(1000) + line(2000))
    index = logindex.LogIndex(log, 1)
    assert [r.ts_ms for r in index.within(0, 10)] == [1000, 2000]
    inode = log.stat().st_ino
    with log.open("w") as fh:  # the same inode, longer than before
        fh.write(HEADER + line(5000) + line(6000) + line(7000))
    assert log.stat().st_ino == inode
    assert [r.ts_ms for r in index.within(0, 10)] == [5000, 6000, 7000]
