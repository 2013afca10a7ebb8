"""The failover's RTO (`write_rto`) and the write audit's other figures, on request logs
written here; every expected value is worked out by hand from the rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from harness.chaos import writes
from harness.chaos.evidence import NoEvidence, Refuted
from tests.unit.test_no_evidence import log
from tests.unit.test_semantics import T0


def test_the_rto_runs_from_the_fault_to_the_end_of_the_first_write_acknowledged_after_it(tmp_path: Path) -> None:
    # fault [T0, T0 + 1] (applied at T0 + 1); writes fail from T0 to T0 + 20, the one sent at
    # T0 + 21 is acknowledged and ends at T0 + 21.01 (each write takes 10 ms)
    config = log(tmp_path, writes=[(T0 - 1, "ack"), *[(T0 + s, "fail") for s in range(0, 21)], (T0 + 21, "ack"),
                                   (T0 + 22, "ack")])
    assert writes.write_rto([T0, T0 + 1], configuration=config) == 21.01
    # counted from the kill after a cut-off (the `applied` window starts there): 8 s less
    assert writes.write_rto([T0 + 8, T0 + 9], configuration=config) == 13.01


def test_a_write_acknowledged_before_the_fault_was_applied_does_not_count(tmp_path: Path) -> None:
    # the write sent at T0 + 0.5, inside the action, may have been served by the old primary
    config = log(tmp_path, writes=[(T0 + 0.5, "ack"), (T0 + 3, "fail"), (T0 + 6, "ack")])
    assert writes.write_rto([T0, T0 + 1], configuration=config) == 6.01


def test_a_write_acknowledged_at_once_is_an_rto_of_its_own_length(tmp_path: Path) -> None:
    config = log(tmp_path, writes=[(T0 + 1, "ack")])
    assert writes.write_rto([T0, T0 + 1], configuration=config) == 1.01


def test_no_write_acknowledged_after_the_fault_is_refuted_with_a_lower_bound(tmp_path: Path) -> None:
    config = log(tmp_path, writes=[(T0 - 1, "ack"), (T0 + 2, "fail"), (T0 + 40, "fail")])
    with pytest.raises(Refuted, match="none of the 2 writes sent after the fault was acknowledged") as raised:
        writes.write_rto([T0, T0 + 1], configuration=config)
    assert raised.value.at_least == 40.01  # the last write sent after the fault ended at T0 + 40.01


def test_no_write_after_the_fault_or_no_log_is_no_evidence(tmp_path: Path) -> None:
    with pytest.raises(NoEvidence, match="no write was sent after the fault"):
        writes.write_rto([T0, T0 + 1], configuration=log(tmp_path, reads=[(T0 + 2, True)],
                                                         writes=[(T0 - 1, "ack")]))
    with pytest.raises(NoEvidence) as caught:
        writes.write_rto([T0, T0 + 1], configuration=log(tmp_path))
    assert str(caught.value) == "no client requests in the log"


def audited(tmp_path: Path, audit: dict[str, object]) -> dict[str, object]:
    config = log(tmp_path, writes=[(T0 - 1, "ack")])
    (tmp_path / "audit.json").write_text(json.dumps(audit))
    return config


def test_a_count_of_the_audit_is_read_from_the_runs_audit_file(tmp_path: Path) -> None:
    config = audited(tmp_path, {"lost": 3, "acknowledged": 120, "ghosts": 1, "duplicates": 0, "source": "db2"})
    assert (writes.write_audit("lost", configuration=config), writes.write_audit("acknowledged", configuration=config),
            writes.write_audit("ghosts", configuration=config)) == (3, 120, 1)
    assert writes.write_audit(configuration=config) == 3  # lost, unless told
    with pytest.raises(ActivityFailed, match="the write audit has no count 'source'"):
        writes.write_audit("source", configuration=config)  # there, but not a count
    with pytest.raises(ActivityFailed, match="the write audit has no count 'losts'"):
        writes.write_audit("losts", configuration=config)


def test_an_audit_needs_the_runs_request_log(tmp_path: Path) -> None:
    with pytest.raises(ActivityFailed, match="no client request log to audit: run under `devsim run`"):
        writes.audit_found({"request_log": "", "devsim_stack": "x", "lb_url": "http://127.0.0.1:1",
                            "prometheus_url": "http://127.0.0.1:1", "mailsink_url": "http://127.0.0.1:1"})


def test_the_age_of_the_oldest_lost_write_counts_back_from_the_fault_never_below_zero(tmp_path: Path) -> None:
    age = audited(tmp_path, {"lost": 2, "acknowledged": 10, "lost_first_ack": T0 - 12.3456})
    assert writes.lost_write_age([T0, T0 + 1], configuration=age) == 12.346
    after = audited(tmp_path, {"lost": 1, "acknowledged": 10, "lost_first_ack": T0 + 0.5})  # during the action
    assert writes.lost_write_age([T0, T0 + 1], configuration=after) == 0.0
    none_lost = audited(tmp_path, {"lost": 0, "acknowledged": 10, "lost_first_ack": None})
    assert writes.lost_write_age([T0, T0 + 1], configuration=none_lost) == 0.0
    other = audited(tmp_path, {"error": "Patroni not answering"})
    with pytest.raises(ActivityFailed, match="the write audit has no counts: Patroni not answering"):
        writes.lost_write_age([T0, T0 + 1], configuration=other)
    odd = audited(tmp_path, {"lost": "2", "acknowledged": 10})
    with pytest.raises(ActivityFailed, match="the write audit has no counts: an audit of another form"):
        writes.lost_write_age([T0, T0 + 1], configuration=odd)


def test_a_write_sent_exactly_at_the_fault_is_not_one_sent_before_it(tmp_path: Path) -> None:
    config = log(tmp_path, writes=[(T0, "ack"), (T0 + 2, "fail"), (T0 + 3, "ack"), (T0 + 4, "ack")])
    with pytest.raises(NoEvidence) as caught:
        writes.failed_writes_outside_outage([T0, T0 + 1], configuration=config)
    assert str(caught.value) == "no write was sent before the fault"


def test_a_write_sent_exactly_when_writes_came_back_is_not_one_sent_after(tmp_path: Path) -> None:
    # acknowledged again when the write sent at T0 + 3 ended, T0 + 3.01; the next one starts right then
    config = log(tmp_path, writes=[(T0 - 1, "ack"), (T0 + 2, "fail"), (T0 + 3, "ack"), (T0 + 3.01, "ack")])
    with pytest.raises(NoEvidence) as caught:
        writes.failed_writes_outside_outage([T0, T0 + 1], configuration=config)
    assert str(caught.value) == "no write was sent after writes were acknowledged again"
    config = log(tmp_path, writes=[(T0 - 1, "ack"), (T0 + 2, "fail"), (T0 + 3, "ack"), (T0 + 3.011, "fail")])
    assert writes.failed_writes_outside_outage([T0, T0 + 1], configuration=config) == 1


def _message(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(ActivityFailed) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return str(caught.value)


def test_each_write_figure_says_word_for_word_why_it_has_none(tmp_path: Path) -> None:
    no_after = log(tmp_path, reads=[(T0 + 2, True)], writes=[(T0 - 1, "ack")])
    assert _message(writes.write_rto, [T0, T0 + 1], configuration=no_after) == "no write was sent after the fault"
    open_gap = log(tmp_path, writes=[(T0 - 1, "ack"), (T0 + 2, "fail"), (T0 + 5, "fail")])
    assert _message(writes.write_unavailability, [T0, T0 + 3], configuration=open_gap) == (
        "writes were not acknowledged again before the log ended (at least 6 s)")  # from T0 - 0.99 to T0 + 5.01
    none_acked = audited(tmp_path, {"lost": 0, "acknowledged": 0})
    assert _message(writes.lost_write_age, [T0, T0 + 1], configuration=none_acked) == (
        "the write audit found no acknowledged write")
    no_time = audited(tmp_path, {"lost": 2, "acknowledged": 10, "lost_first_ack": None})
    assert _message(writes.lost_write_age, [T0, T0 + 1], configuration=no_time) == (
        "the write audit found 2 LOST writes but not when they were acknowledged")


def test_a_write_sent_exactly_when_the_fault_was_applied_counts_as_after_it(tmp_path: Path) -> None:
    config = log(tmp_path, writes=[(T0 + 1, "fail"), (T0 + 2.0004, "fail")])
    # neither was acknowledged; the one sent at T0 + 1 (applied) counts: at least T0 + 2.0104 - T0
    assert _message(writes.write_rto, [T0, T0 + 1], configuration=config) == (
        "none of the 2 writes sent after the fault was acknowledged (at least 2.01 s)")
    acked = log(tmp_path, writes=[(T0 + 1.0004, "ack")])
    assert writes.write_rto([T0, T0 + 1], configuration=acked) == 1.01  # 1.0104 to the millisecond


def test_the_rto_and_its_lower_bound_are_rounded_to_the_millisecond(tmp_path: Path) -> None:
    # A fault that started 0.4 ms after T0, applied at T0 + 1 (request times in the log are
    # whole milliseconds, so only the start carries a fourth decimal): the first acknowledged
    # write after it, sent at T0 + 2, ends at T0 + 2.01, 2.0096 s after the start.
    acked = log(tmp_path, writes=[(T0 - 1, "ack"), (T0 + 1.5, "fail"), (T0 + 2, "ack")])
    assert writes.write_rto([T0 + 0.0004, T0 + 1], configuration=acked) == 2.01
    # The same write unacknowledged: at least 2.0096 s, shown to the millisecond.
    failed = log(tmp_path, writes=[(T0 - 1, "ack"), (T0 + 2, "fail")])
    with pytest.raises(Refuted) as caught:
        writes.write_rto([T0 + 0.0004, T0 + 1], configuration=failed)
    assert caught.value.at_least == 2.01
