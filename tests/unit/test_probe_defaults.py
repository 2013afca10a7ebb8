"""The probes as a plain `chaos run` calls them: with only the arguments an experiment file
names. `devsim run` passes the window itself; an experiment file run by Chaos Toolkit alone
relies on each probe's defaults (the fault window, every request name, p95, the client
signal, the LOST count), so those defaults are part of the contract.

The fault window is T0 .. T0 + 10 s and the method's first action T0 .. T0 + 1 s. Every
expected value is worked out by hand from the rows written here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.chaos import probes, runstate
from harness.chaos.evidence import OpenEnded
from tests.unit.test_semantics import T0

HEADER = "ts_ms,name,method,status,latency_ms,success,error,item_id,ack"


@pytest.fixture
def fault_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(runstate._state, "start", T0)
    monkeypatch.setitem(runstate._state, "end", T0 + 10)
    monkeypatch.setitem(runstate._state, "first_action_end", T0 + 1)


def row(t_s: float, name: str, status: int, latency_ms: float, item: str = "", ack: str = "") -> str:
    ok = int(status < 400)
    method = name.split()[0]
    return f"{round(t_s * 1000)},{name},{method},{status},{latency_ms},{ok},,{item},{ack}"


@pytest.fixture
def config(tmp_path: Path, fault_window: None) -> dict[str, Any]:
    """In the fault window: 200 reads of two names, every 50 ms from T0, the n-th taking n ms
    (1..200), of which the four at T0 + 2.00, 2.05, 2.10, 2.15 s failed (503); writes every
    0.5 s from T0 - 4.75 s to T0 + 14.75 s taking 10 ms, unacknowledged (503) from T0 + 1 s to
    T0 + 3 s (the four at 1.25, 1.75, 2.25, 2.75 s). Before
    and after the window: 100 failed reads each, which only a wrong window would count."""
    failed_at = {40, 41, 42, 43}  # the 41st..44th read: T0 + 2.00 .. 2.15 s
    lines = [HEADER]
    for n in range(200):
        name = "GET /a" if n % 2 == 0 else "GET /b"
        lines.append(row(T0 + n * 0.05, name, 503 if n in failed_at else 200, n + 1))
    lines += [row(T0 - 20 + n * 0.1, "GET /a", 503, 5) for n in range(100)]
    lines += [row(T0 + 20 + n * 0.1, "GET /a", 503, 5) for n in range(100)]
    for n in range(41):
        t = T0 - 4.75 + n * 0.5
        down = T0 + 1 <= t < T0 + 3
        lines.append(row(t, "POST /api/items", 503 if down else 201, 10, f"w{n}", "fail" if down else "ack"))
    path = tmp_path / "requests.csv"
    path.write_text("\n".join(lines) + "\n")
    (tmp_path / "audit.json").write_text(json.dumps({"lost": 2, "acknowledged": 37, "duplicates": 0,
                                                     "lost_first_ack": T0 - 2.5}))
    # Prometheus' answer for "q" over the fault window, recorded as a run records it: one
    # point a second, T0 .. T0 + 10, the values 1, 2, ..., 11 except 7 at T0 + 3.
    series = [[[T0 + i, 7.0 if i == 3 else float(i + 1)] for i in range(11)]]
    (tmp_path / "claim_series.json").write_text(json.dumps([{"query": ["q", T0, T0 + 10, 1.0], "series": series}]))
    return {"request_log": str(path), probes.REPLAY: str(tmp_path / "claim_series.json")}


def test_the_client_probes_default_to_the_fault_window_and_every_name(config: dict[str, Any]) -> None:
    reads_and_writes_in_window = 200 + 20  # writes at T0 + 0.25, 0.75, ..., 9.75
    assert probes.client_requests(configuration=config) == reads_and_writes_in_window
    assert probes.client_failed_requests(configuration=config) == 4 + 4  # four reads, four writes
    assert probes.client_error_ratio(configuration=config) == 8 / 220
    assert probes.client_status_share(503, configuration=config) == 8 / 220


def test_the_latency_probe_defaults_to_p95(config: dict[str, Any]) -> None:
    # Nearest rank over 220 latencies: 20 writes of 10 ms and reads of 1..200 ms. The 95th
    # percentile is the 209th smallest (ceil(0.95 * 220)): the 20 writes sit among 1..200 at
    # 10, so the 209th is the read of 189 ms (p96 would be the 212th: 192 ms).
    assert probes.client_latency_ms(configuration=config) == 189.0


def test_the_longest_failure_run_defaults_to_the_fault_window(config: dict[str, Any]) -> None:
    # In the window, requests fail one after another only at T0 + 2.00 .. 2.15 s (the
    # failed writes each sit between reads that succeeded): from the start of the first
    # (T0 + 2.0) to the end of the last (the read at 2.15 s, taking 44 ms).
    assert probes.client_longest_failure_run(configuration=config) == pytest.approx(0.194)


def test_time_to_detect_defaults_to_the_client_signal(config: dict[str, Any]) -> None:
    # The first failed request in the window: the write at T0 + 1.25 s, ended 10 ms later.
    assert probes.time_to_detect(configuration=config) == pytest.approx(1.26)


def test_the_write_probes_default_to_their_windows(config: dict[str, Any]) -> None:
    # The first-action window is T0 .. T0 + 1 s: the first acknowledged write sent after it
    # was sent at T0 + 3.25 s and ended 10 ms later.
    assert probes.write_rto(configuration=config) == pytest.approx(3.26)
    # The longest time without an acknowledgement in the fault window: from the end of the
    # write at T0 + 0.75 s to the end of the one at T0 + 3.25 s.
    assert probes.write_unavailability(configuration=config) == pytest.approx(2.5)
    assert probes.failed_writes_outside_outage(configuration=config) == 0


def test_the_write_audit_probes_default_to_the_lost_count_and_the_first_action(config: dict[str, Any]) -> None:
    assert probes.write_audit(configuration=config) == 2
    assert probes.lost_write_age(configuration=config) == 2.5  # acknowledged 2.5 s before the fault's start


def test_recovery_and_outage_default_to_the_fault_window(config: dict[str, Any]) -> None:
    # Recovery is measured from the window's start to the last failure, however late: the
    # 100 failed reads from T0 + 20 s (the last ends at T0 + 29.905 s) are followed by no
    # success, so the figure is a lower bound.
    with pytest.raises(OpenEnded) as raised:
        probes.time_to_recover(configuration=config)
    assert str(raised.value) == "no client request succeeded after the last failure (at least 29.905 s)"
    # The longest stretch without a success: from the read at T0 + 1.95 s (ends 1.990 s) to
    # the read at T0 + 2.20 s (ends 2.245 s); the reads and writes between failed.
    assert probes.client_outage_seconds(configuration=config) == pytest.approx(0.255)


def test_a_range_query_defaults_to_the_fault_window_and_its_maximum(config: dict[str, Any]) -> None:
    assert probes.prometheus_over_window("q", configuration=config) == 11.0


def test_time_to_detect_asks_prometheus_for_its_own_signal_only(config: dict[str, Any], tmp_path: Path) -> None:
    # Only the load balancer's series was recorded (5 s before the window to its end): 3
    # replicas in rotation until T0 + 2, then 2. Asking for the alerts too would be a query
    # the run never recorded (an error when judged again).
    rotation = [[[T0 - 5 + i, 3.0 if i < 7 else 2.0] for i in range(16)]]
    (tmp_path / "claim_series.json").write_text(json.dumps(
        [{"query": ['sum(haproxy_backend_active_servers{job="lb",proxy="app"})', T0 - 5, T0 + 10, 1.0],
          "series": rotation}]))
    assert probes.time_to_detect("lb", configuration=config) == 2.0
