"""The request log summed up in one pass (harness.load.digest) gives what a report showed
when it held every row in memory: the per-second series, the failure groups and the
whole-run figures, on the recorded runs and on logs written out of start order. The
in-memory versions below are the report's code before the digest, kept here as the oracle."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.load import clientlog
from harness.load.digest import digest
from harness.report import rundata

DATA = Path(__file__).parent / "data"
RECORDED = sorted(DATA.glob("*/requests.csv"))
HEADER = "ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n"


def series_in_memory(rows: list[clientlog.Request]) -> rundata.ClientSeries:
    if not rows:
        return rundata.ClientSeries()
    by_second: dict[int, list[clientlog.Request]] = defaultdict(list)
    for r in rows:
        by_second[r.ts_ms // 1000].append(r)
    series = rundata.ClientSeries()
    for second in range(min(by_second), max(by_second) + 1):
        bucket = by_second.get(second, [])
        latencies = [r.latency_ms for r in bucket]
        series.seconds.append(float(second))
        series.requests.append(len(bucket))
        series.failures.append(sum(not r.success for r in bucket))
        for q, target in ((50, series.p50), (95, series.p95), (99, series.p99)):
            target.append(clientlog.percentile(latencies, q) if latencies else None)
    return series


def groups_in_memory(rows: list[clientlog.Request]) -> list[rundata.FailureGroup]:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in rows:
        if not r.success:
            groups[(r.name, r.error or f"status {r.status}")].append(r.ts_ms)
    found = [rundata.FailureGroup(name, error, len(ts), min(ts), max(ts)) for (name, error), ts in groups.items()]
    return sorted(found, key=lambda g: (-g.count, g.first_ms))


def same_as_in_memory(path: Path, block_lines: int) -> None:
    rows = clientlog.read(path)
    found = digest(path, block_lines)
    assert rundata.client_series(found) == series_in_memory(rows)
    assert rundata.failure_groups(found) == groups_in_memory(rows)
    assert found.total == len(rows)
    ratio, p95 = clientlog.error_ratio(rows), clientlog.percentile([r.latency_ms for r in rows], 95)
    assert (found.error_ratio == ratio) or (math.isnan(found.error_ratio) and math.isnan(ratio))
    assert (found.percentile(95) == p95) or (math.isnan(found.percentile(95)) and math.isnan(p95))
    assert found.first_ms == (rows[0].ts_ms if rows else None)
    assert found.last_end_ms == (max(r.end_ms for r in rows) if rows else None)


@pytest.mark.parametrize("path", RECORDED, ids=[p.parent.name for p in RECORDED])
@pytest.mark.parametrize("block_lines", [1, 7, 4096])
def test_the_recorded_runs_sum_up_as_with_every_row_in_memory(path: Path, block_lines: int) -> None:
    same_as_in_memory(path, block_lines)


def line(ts_ms: int, latency: float, ok: bool = True, name: str = "GET /x", error: str = "") -> str:
    return f"{ts_ms},{name},GET,{200 if ok else 0},{latency:.2f},{int(ok)},{error},,\n"


def test_a_small_log_out_of_order(tmp_path: Path) -> None:
    """Written by hand: second 1 has its requests in three blocks; second 2 none."""
    log = tmp_path / "requests.csv"
    log.write_text(HEADER + line(1100, 10) + line(3500, 40, ok=False, error="refused") + line(1900, 30)
                   + line(1200, 20, ok=False) + line(3000, 5) + line(1500, 50, ok=False, error="refused"))
    found = digest(log, 2)
    series = rundata.client_series(found)
    assert series.seconds == [1.0, 2.0, 3.0]
    assert (series.requests, series.failures) == ([4, 0, 2], [2, 0, 1])
    assert (series.p50, series.p95, series.p99) == ([20.0, None, 5.0], [50.0, None, 40.0], [50.0, None, 40.0])
    assert rundata.failure_groups(found) == [rundata.FailureGroup("GET /x", "refused", 2, 1500, 3500),
                                             rundata.FailureGroup("GET /x", "status 0", 1, 1200, 1200)]
    assert (found.total, found.failed, found.percentile(95), found.first_ms, found.last_end_ms) == (
        6, 3, 50.0, 1100, 3540.0)


def test_an_empty_log_sums_up_to_nothing(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text(HEADER)
    found = digest(log)
    assert rundata.client_series(found) == rundata.ClientSeries()
    assert (found.total, found.first_ms, found.last_end_ms) == (0, None, None)
    assert math.isnan(found.error_ratio)
    assert math.isnan(found.percentile(95))


ROW = st.tuples(st.integers(min_value=0, max_value=9_000), st.integers(min_value=0, max_value=300_000),
                st.booleans(), st.sampled_from(["GET /a", "GET /b"]), st.sampled_from(["", "refused", "timeout"]))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(ROW, max_size=60), block_lines=st.integers(min_value=1, max_value=9))
def test_any_log_in_any_order_sums_up_as_in_memory(tmp_path_factory: pytest.TempPathFactory,
                                                   rows: list[tuple[int, int, bool, str, str]],
                                                   block_lines: int) -> None:
    log = tmp_path_factory.mktemp("log") / "requests.csv"
    log.write_text(HEADER + "".join(line(ts, centi / 100, ok, name, "" if ok else error)
                                    for ts, centi, ok, name, error in rows))
    same_as_in_memory(log, block_lines)
