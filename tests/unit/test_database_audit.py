"""The write audit, the client-side write figures (RTO, unavailability) and Patroni's views,
on hand-made request logs and REST answers: no Docker."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed
from hypothesis import given
from hypothesis import strategies as st

from harness.chaos import claims, engine, writes
from harness.config import PROJECT_ROOT
from harness.driver import driver_for
from harness.errors import ConfigError
from harness.load import clientlog
from harness.target import audit, patroni
from tests.unit.fakedriver import FakeDriver

WRITE = "POST /api/items"


def write(ts_ms: int, item: str, ack: str, latency_ms: float = 20) -> clientlog.Request:
    status = {"ack": 201, "fail": 503, "unknown": 0}[ack]
    return clientlog.Request(ts_ms, WRITE, status, latency_ms, ack == "ack", item, ack)


def test_classify_counts_each_kind_once() -> None:
    rows = [write(1, "a", "ack"), write(2, "b", "ack"), write(3, "c", "fail"), write(4, "d", "unknown"),
            write(5, "e", "ack"), clientlog.Request(6, "GET /api/items/:id", 200, 5, True, "", "")]
    stored = Counter({"a": 1, "c": 1, "e": 2})  # b lost, c a ghost, d never committed, e twice
    found = audit.classify(rows, stored, "db2 (leader)")
    assert (found.writes, found.acknowledged, found.good, found.lost) == (5, 3, 2, 1)
    assert found.lost_ids == ["b"]
    assert (found.ghosts, found.unacknowledged_absent, found.duplicates) == (1, 1, 1)
    assert found.duplicate_ids == ["e"]
    assert found.read_from == "db2 (leader)"


@given(st.lists(st.tuples(st.sampled_from(["ack", "fail", "unknown"]), st.integers(0, 2)), max_size=60))
def test_classify_partitions_every_write(spec: list[tuple[str, int]]) -> None:
    rows = [write(i, f"id{i}", ack) for i, (ack, _) in enumerate(spec)]
    stored = Counter({f"id{i}": n for i, (_, n) in enumerate(spec) if n})
    found = audit.classify(rows, stored)
    assert found.good + found.lost == found.acknowledged
    assert found.ghosts + found.unacknowledged_absent == found.writes - found.acknowledged
    assert found.lost == sum(1 for ack, n in spec if ack == "ack" and n == 0)
    assert found.duplicates == sum(1 for _, n in spec if n > 1)


def test_audit_file_round_trips(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text("ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n"
                   f"1000,{WRITE},POST,201,10,1,,x,ack\n")

    class FakeCluster:  # the one seam: what the leader's table holds
        def leader(self) -> str:
            return "db1"

        def sql(self, query: str, member: str = "") -> list[list[str]]:
            assert "to_timestamp(" in query
            assert member == "db1"
            return []

    found = audit.run_audit(FakeCluster(), log)  # type: ignore[arg-type]
    assert found.lost == 1
    assert audit.saved(tmp_path) == found.as_dict()


def test_rto_counts_from_the_kill_to_the_first_ack_sent_after_it() -> None:
    kill_start, kill_end = 10.0, 10.3  # seconds
    rows = [write(9_900, "before", "ack", 50),            # acknowledged by the old leader
            write(10_100, "inflight", "ack", 100),       # sent during the kill action: not evidence
            write(10_400, "x1", "fail", 10), write(12_000, "x2", "unknown", 5000),
            write(25_000, "first", "ack", 700), write(26_000, "later", "ack", 10)]
    recovered = clientlog.write_recovery_ms(rows, kill_start, kill_end)
    assert recovered == 25_700
    assert clientlog.failed_writes_outside(rows, kill_start, recovered) == []
    late = [*rows, write(30_000, "after", "fail")]
    assert [r.item_id for r in clientlog.failed_writes_outside(late, kill_start, recovered)] == ["after"]
    assert clientlog.write_recovery_ms(rows[:4], kill_start, kill_end) is None


def test_the_write_gap_is_measured_whole_and_open_when_no_ack_follows() -> None:
    rows = [write(1_000, "a", "ack", 0), write(1_500, "b", "ack", 0), write(4_000, "c", "ack", 0),
            write(2_000, "d", "fail", 0)]
    # 1.5 -> 4.0 is the longest, but nothing was acknowledged after 4.0: it is only a lower bound
    assert clientlog.write_gap(rows, 1.0, 4.5) == clientlog.Span(2.5, open=True)
    assert clientlog.write_gap(rows, 1.4, 3.0) == clientlog.Span(2.5)  # 1.5 -> 4.0, past the window's end
    assert clientlog.write_gap(rows, 5.0, 6.0) is None  # no write sent in the window
    assert clientlog.write_gap([], 0.0, 3.0) is None
    # the last acknowledgement came before the window and none after: open, measured from it
    stopped = [write(1_000, "a", "ack", 0), write(1_500, "b", "ack", 0), write(3_500, "c", "fail", 1_000)]
    assert clientlog.write_gap(stopped, 3.0, 4.0) == clientlog.Span(3.0, open=True)  # 1.5 -> 4.5, the log's end


CLUSTER = {"members": [
    {"name": "db1", "role": "replica", "state": "running", "timeline": 3, "lag": 0},
    {"name": "db2", "role": "leader", "state": "running", "timeline": 3},
    {"name": "db3", "role": "sync_standby", "state": "streaming", "timeline": 3, "lag": 16},
]}


def test_cluster_view_reads_patroni_cluster_answer() -> None:
    view = patroni.parse_cluster(CLUSTER)
    assert [m.name for m in view.leaders] == ["db2"]
    assert [m.name for m in view.sync_standbys] == ["db3"]
    assert view.healthy(3, synchronous=True)
    assert not view.healthy(4, synchronous=True)
    assert view.role_of("db1") == "replica"
    assert view.role_of("db9") == "absent"
    assert "db3 sync standby (streaming, lag 16 B)" in view.summary()


def test_cluster_view_is_not_healthy_without_leader_or_sync_standby() -> None:
    no_sync = {"members": [dict(m, role="replica") if m["role"] == "sync_standby" else m
                           for m in CLUSTER["members"]]}
    assert not patroni.parse_cluster(no_sync).healthy(3, synchronous=True)
    assert patroni.parse_cluster(no_sync).healthy(3, synchronous=False)
    two_leaders = {"members": [dict(m, role="leader") for m in CLUSTER["members"][:2]]}
    assert not patroni.parse_cluster(two_leaders).healthy(2, synchronous=False)
    stopped = {"members": [dict(m, state="stopped") if m["name"] == "db1" else m for m in CLUSTER["members"]]}
    assert not patroni.parse_cluster(stopped).healthy(3, synchronous=True)
    # the killed leader back, running on the timeline it led, not yet rewound onto the new one
    old_timeline = {"members": [dict(m, timeline=2) if m["name"] == "db1" else m for m in CLUSTER["members"]]}
    assert not patroni.parse_cluster(old_timeline).healthy(3, synchronous=True)
    assert not patroni.parse_cluster(old_timeline).healthy(3, synchronous=False)


def test_only_a_standby_the_leader_replicates_to_synchronously_counts() -> None:
    view = patroni.parse_cluster(CLUSTER)  # Patroni's /sync key names db3
    assert view.with_sync_standbys({"db3"}) == view
    stale = view.with_sync_standbys(set())  # the leader's PostgreSQL has no synchronous standby
    assert stale.role_of("db3") == "replica"
    assert not stale.sync_standbys
    assert not stale.healthy(3, synchronous=True)
    assert stale.healthy(3, synchronous=False)
    # a standby PostgreSQL replicates to synchronously but Patroni does not list yet stays a replica
    assert view.with_sync_standbys({"db1", "db3"}).role_of("db1") == "replica"


def test_router_agrees_only_when_writes_go_to_the_leader_and_reads_to_every_replica() -> None:
    view = patroni.parse_cluster(CLUSTER)
    assert view.routes() == {"primary": {"db2"}, "replicas": {"db1", "db3"}}
    assert view.router_disagreement({"primary": {"db2"}, "replicas": {"db1", "db3"}}) == ""
    # a restarted node the router still checks at its old address: DOWN among the replicas
    stale = view.router_disagreement({"primary": {"db2"}, "replicas": {"db3"}})
    assert stale == "replicas -> db3 (Patroni: db1, db3)"
    # no primary at all, and a replica wrongly taking writes
    assert "primary -> nothing (Patroni: db2)" in view.router_disagreement({"replicas": {"db1", "db3"}})
    assert "primary -> db1, db2" in view.router_disagreement({"primary": {"db1", "db2"}, "replicas": {"db1", "db3"}})
    # a stopped replica must not be routed to
    stopped = patroni.parse_cluster({"members": [dict(m, state="stopped") if m["name"] == "db1" else m
                                                 for m in CLUSTER["members"]]})
    assert stopped.routes()["replicas"] == {"db3"}


def test_switches_map_to_patroni_dynamic_configuration() -> None:
    assert patroni.dynamic_config({}) == {**patroni.TIMINGS["tuned"], "synchronous_mode": True}
    found = patroni.dynamic_config({"DB_SYNCHRONOUS_MODE": "off", "DB_PATRONI_TIMINGS": "default"})
    assert found == {"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "synchronous_mode": False}
    with pytest.raises(ConfigError, match="DB_SYNCHRONOUS_MODE must be one of on, off"):
        patroni.dynamic_config({"DB_SYNCHRONOUS_MODE": "maybe"})


@pytest.mark.parametrize("profile", sorted(patroni.TIMINGS))
def test_every_timing_profile_keeps_patronis_rule(profile: str) -> None:
    t = patroni.TIMINGS[profile]
    assert t["ttl"] >= 20
    assert t["loop_wait"] + 2 * t["retry_timeout"] <= t["ttl"]


def test_the_shipped_stack_has_three_patroni_nodes_and_bootstraps_tuned() -> None:
    stack_dir = PROJECT_ROOT / "target-stack"
    assert patroni.member_services(stack_dir) == ("db1", "db2", "db3")
    entrypoint = (stack_dir / "db" / "entrypoint.sh").read_text()
    tuned = patroni.TIMINGS["tuned"]
    assert f'"${{PATRONI_TTL:={tuned["ttl"]}}}"' in entrypoint
    assert f'"${{PATRONI_LOOP_WAIT:={tuned["loop_wait"]}}}"' in entrypoint
    assert f'"${{PATRONI_RETRY_TIMEOUT:={tuned["retry_timeout"]}}}"' in entrypoint


def test_claims_can_use_the_first_action_window() -> None:
    journal = {"run": [
        {"activity": {"type": "action", "name": "kill"}, "start": "2026-11-30T01:00:00+00:00",
         "end": "2026-11-30T01:00:00.250000+00:00", "status": "succeeded"},
        {"activity": {"type": "probe", "name": "wait"}, "start": "2026-11-30T01:00:00.300000+00:00",
         "end": "2026-11-30T01:00:20+00:00", "status": "succeeded"},
    ]}
    window = claims.first_action_window(journal)
    assert window is not None
    assert window.end - window.start == pytest.approx(0.25)


def test_classify_field_by_field() -> None:
    rows = [write(10_000, "kept", "ack"), write(11_000, "lost1", "ack", 500), write(12_000, "ghost", "fail"),
            write(13_000, "absent", "unknown"), write(14_000, "lost2", "ack", 250), write(15_000, "twice", "ack")]
    stored = Counter({"kept": 1, "ghost": 1, "twice": 2, "stranger": 3})  # "stranger": not one of the load's
    found = audit.classify(rows, stored, "db2 (leader)")
    assert found == audit.Audit(
        writes=6, acknowledged=4, good=2, lost=2, ghosts=1, duplicates=1, unacknowledged_absent=1,
        read_from="db2 (leader)", lost_ids=["lost1", "lost2"], duplicate_ids=["twice"],
        lost_first_ack=11.5, lost_last_ack=14.25)  # the LOST writes ended at 11.5 s and 14.25 s
    assert audit.classify(rows[:1], Counter({"kept": 1})).lost_first_ack is None


class RecordingCluster:
    """The leader's table as psql prints it; every query it was asked."""

    def __init__(self, rows: list[list[str]]) -> None:
        self.rows = rows
        self.asked: list[tuple[str, str]] = []

    def leader(self) -> str:
        return "db2"

    def sql(self, query: str, member: str = "") -> list[list[str]]:
        self.asked.append((query, member))
        return self.rows


def test_the_audit_reads_every_id_written_since_5_s_before_the_first_write_on_the_leader(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text("ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n"
                   f"1000500,{WRITE},POST,201,10,1,,a,ack\n1000600,GET /x,GET,200,5,1,,,\n"
                   f"1002000,{WRITE},POST,201,10,1,,b,ack\n1003000,{WRITE},POST,503,10,0,,c,fail\n")
    cluster = RecordingCluster([["a", "1"], ["c", "2"], ["stray", "1", "x"]])  # a row of another shape is skipped
    found = audit.run_audit(cluster, log)  # type: ignore[arg-type]
    assert cluster.asked == [("SELECT id, count(*) FROM items WHERE created_at >= to_timestamp(995.500) GROUP BY id",
                              "db2")]
    assert (found.writes, found.acknowledged, found.good, found.lost, found.ghosts, found.duplicates) == \
        (3, 2, 1, 1, 1, 1)
    assert found.read_from == "db2 (leader)"
    assert (tmp_path / "audit.json").read_text() == json.dumps(found.as_dict(), indent=2) + "\n"
    assert audit.stored_ids(cluster, 12.0)[0] == Counter({"a": 1, "c": 2})  # type: ignore[arg-type]


def test_a_log_without_writes_asks_the_database_nothing(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text("ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n1000600,GET /x,GET,200,5,1,,,\n")
    cluster = RecordingCluster([])
    found = audit.run_audit(cluster, log)  # type: ignore[arg-type]
    assert cluster.asked == []
    assert (found.writes, found.read_from) == (0, "")


def test_the_write_probes_audit_from_the_running_leader_once(tmp_path: Path) -> None:
    fake = FakeDriver("devsim-audit", services={})
    fake.add_patroni("db1", "db2")
    fake.sql_answer = "a\t1\n"
    # Only the configuration's stack has the cluster: an audit of any other stack finds none.
    engine.use_factory(lambda stack: fake if stack == "devsim-audit" else FakeDriver(stack, services={}))
    try:
        log = tmp_path / "requests.csv"
        log.write_text("ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n"
                       f"1000500,{WRITE},POST,201,10,1,,a,ack\n1002000,{WRITE},POST,201,10,1,,b,ack\n")
        config = {"devsim_stack": "devsim-audit", "lb_url": "http://127.0.0.1:9", "prometheus_url": "http://127.0.0.1:9",
                  "mailsink_url": "http://127.0.0.1:9", "request_log": str(log)}
        found = writes.audit_found(config)
        assert (found["lost"], found["lost_ids"], found["read_from"]) == (1, ["b"], "db1 (leader)")
        assert [c for c in fake.calls if c.startswith("sql ")] == [
            "sql SELECT id, count(*) FROM items WHERE created_at >= to_timestamp(995.500) GROUP BY id"]
        assert writes.audit_found(config) == found  # from audit.json now: the database is not asked again
        assert len([c for c in fake.calls if c.startswith("sql ")]) == 1
        gone = FakeDriver("devsim-audit", services={})  # no Patroni node: the audit cannot be made
        engine.use_factory(lambda stack: gone)
        (tmp_path / "audit.json").unlink()
        with pytest.raises(ActivityFailed) as caught:
            writes.audit_found(config)
        assert str(caught.value) == "cannot audit the writes: the stack 'devsim-audit' runs no Patroni node"
        with pytest.raises(ActivityFailed) as caught:
            writes.audit_found({**config, "request_log": ""})
        assert str(caught.value) == "no client request log to audit: run under `devsim run`"
    finally:
        engine.use_factory(driver_for)
