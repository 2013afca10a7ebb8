"""`time_to_detect`: the first sign of the fault, from the client log or from Prometheus'
answers replayed as `devsim judge` replays them. Expected values worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from harness.chaos import probes
from harness.chaos.evidence import NoEvidence
from tests.unit.test_no_evidence import log
from tests.unit.test_semantics import T0

WINDOW = [T0, T0 + 10]

# the queries as runs record them (claim_series.json replays by query text)
LB_QUERY = 'sum(haproxy_backend_active_servers{job="lb",proxy="app"})'
ALERT_QUERY = 'max(ALERTS{alertstate="firing"})'


def replayed(tmp_path: Path, alert: list[tuple[float, float]], lb: list[tuple[float, float]]) -> dict[str, Any]:
    """The answers a run recorded for the two server queries over the fault window (from 5 s
    before its start, as `sample_server` asks)."""
    kept = [{"query": [ALERT_QUERY, T0 - 5, T0 + 10, 1.0], "series": [alert] if alert else []},
            {"query": [LB_QUERY, T0 - 5, T0 + 10, 1.0], "series": [lb] if lb else []}]
    path = tmp_path / "claim_series.json"
    path.write_text(json.dumps(kept))
    return {probes.REPLAY: str(path)}


def test_the_client_sees_the_fault_when_its_first_failed_request_ends(tmp_path: Path) -> None:
    # successes every 0.5 s; the request sent at T0 + 2 fails and ends at T0 + 2.01 (10 ms)
    reads = [(T0 + i * 0.5, True) for i in range(4)] + [(T0 + 2, False), (T0 + 2.5, False), (T0 + 3, True)]
    assert probes.time_to_detect("client", WINDOW, configuration=log(tmp_path, reads=reads)) == 2.01


def test_no_failed_request_is_no_evidence(tmp_path: Path) -> None:
    reads = [(T0 + i * 0.5, True) for i in range(20)]
    with pytest.raises(NoEvidence, match="no client sign of the fault after it started"):
        probes.time_to_detect("client", WINDOW, configuration=log(tmp_path, reads=reads))


def test_an_alert_is_seen_at_the_first_step_it_fires_after_the_start(tmp_path: Path) -> None:
    alert = [(T0 - 2, 1.0), (T0, 0.0), (T0 + 3, 0.0), (T0 + 4, 1.0), (T0 + 5, 1.0)]  # one firing before the fault
    config = replayed(tmp_path, alert, [(T0 - 1, 3.0), (T0 + 1, 3.0)])
    assert probes.time_to_detect("alert", WINDOW, configuration=config) == 4.0


def test_the_load_balancer_sees_it_when_fewer_replicas_are_in_rotation_than_at_the_start(tmp_path: Path) -> None:
    lb = [(T0 - 3, 2.0), (T0 - 1, 3.0), (T0 + 1, 3.0), (T0 + 2.5, 2.0), (T0 + 6, 3.0)]  # baseline: 3 at T0 - 1
    assert probes.time_to_detect("lb", WINDOW, configuration=replayed(tmp_path, [], lb)) == 2.5


@pytest.mark.parametrize(("signal", "alert", "lb", "why"), [
    ("alert", [(T0 + 1, 0.0), (T0 + 9, 0.0)], [], "no alert sign of the fault after it started"),
    ("alert", [], [], "no alert sign of the fault after it started"),  # no series at all
    ("lb", [], [(T0 + 1, 3.0), (T0 + 2, 2.0)], "no lb sign of the fault after it started"),  # no baseline
    ("lb", [], [(T0 - 1, 3.0), (T0 + 2, 3.0)], "no lb sign of the fault after it started"),
])
def test_a_server_signal_that_never_shows_is_no_evidence(tmp_path: Path, signal: str, alert: list[Any],
                                                         lb: list[Any], why: str) -> None:
    with pytest.raises(NoEvidence, match=why):
        probes.time_to_detect(signal, WINDOW, configuration=replayed(tmp_path, alert, lb))


def test_an_unknown_signal_is_named(tmp_path: Path) -> None:
    with pytest.raises(ActivityFailed, match="signal must be client, lb or alert, got 'email'"):
        probes.time_to_detect("email", WINDOW, configuration=replayed(tmp_path, [], []))
