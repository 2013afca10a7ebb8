"""Every fault action and its undo against the fake engine (tests/unit/fakedriver.py): what
each asks the engine to do, that its undo puts the state back, and that `restore_everything`
undoes every kind of fault the registry marks for it."""

from __future__ import annotations

import inspect
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from harness.chaos import actions, backups, controls, database, discovery, engine, registry, runstate
from harness.chaos.faults import load as load_spike
from harness.chaos.faults import service as service_faults
from harness.driver import TaskInfo, driver_for
from harness.load.runner import default_sigint
from tests.unit.fakedriver import FakeDriver

STACK = "devsim"
CONFIG = {"devsim_stack": STACK}


@pytest.fixture
def fake() -> Iterator[FakeDriver]:
    driver = FakeDriver(STACK)
    for release, digit in (("v1", "1"), ("v2", "2"), ("v2-crash", "3")):
        for tag in (release, f"{release}-{digit * 12}"):  # the release tag and its content tag
            driver.add_image(f"{STACK}/app:{tag}", "sha256:" + digit * 64, {"devsim.version": release})
    driver.svcs["app"] = replace(driver.svcs["app"], image=f"{STACK}/app:v1-111111111111")
    driver.task_states["app"] = [replace(t, image=f"{STACK}/app:v1-111111111111") for t in driver.task_states["app"]]
    engine.use_factory(lambda stack: driver if stack == STACK else FakeDriver(stack, services={}))
    yield driver
    engine.use_factory(driver_for)


def test_kill_asks_for_the_signal_on_that_many_tasks(fake: FakeDriver) -> None:
    killed = actions.kill_tasks("app", count=2, signal="SIGTERM", configuration=CONFIG)
    assert len(killed) == 2
    assert sorted(c for c in fake.calls if c.startswith("kill")) == sorted(f"kill {n} SIGTERM" for n in killed)
    with pytest.raises(ActivityFailed, match="asked for 4 containers, only 3 are running"):
        actions.kill_tasks("app", count=4, configuration=CONFIG)


def test_pause_and_unpause(fake: FakeDriver) -> None:
    before = fake.state()
    assert sorted(actions.pause_service("app", configuration=CONFIG)) == [f"{STACK}_app.{i}" for i in (1, 2, 3)]
    assert all(c.info.paused for c in fake.ctrs["app"])
    assert sorted(actions.unpause_service("app", configuration=CONFIG)) == [f"{STACK}_app.{i}" for i in (1, 2, 3)]
    assert fake.state() == before
    assert actions.unpause_service("app", configuration=CONFIG) == []  # idempotent


def test_stop_remembers_the_replicas_and_restore_brings_them_back(fake: FakeDriver) -> None:
    before = fake.state()
    assert actions.stop_service("app", configuration=CONFIG) == 3
    assert fake.calls[-1] == "update app +devsim.chaos.replicas=3 replicas=0"
    assert fake.containers("app") == []
    assert actions.stop_service("app", configuration=CONFIG) == 3  # stopping twice keeps the first count
    assert actions.restore_service("app", configuration=CONFIG) == 3
    assert fake.calls[-1] == "update app -devsim.chaos.replicas replicas=3"
    assert fake.state() == before


def test_restart_is_a_forced_update_and_its_undo_waits_for_every_task(fake: FakeDriver) -> None:
    assert actions.restart_service("app", configuration=CONFIG) == f"{STACK}_app"
    assert fake.calls[-1] == "update app force"
    assert actions.wait_until_converged("app", configuration=CONFIG) == 3


def test_waiting_for_tasks_that_never_run_fails_with_the_count(fake: FakeDriver) -> None:
    fake.task_states["app"] = [TaskInfo("t1", 1, "img", "running", "running"),
                               TaskInfo("t2", 2, "img", "starting", "running")]
    with pytest.raises(ActivityFailed) as raised:
        actions.wait_until_converged("app", timeout=0.2, configuration=CONFIG)
    assert str(raised.value) == "app: 1/3 tasks running after 0.2 s; last log lines: app: a log line"


def test_roll_to_a_release_and_back(fake: FakeDriver) -> None:
    assert actions.roll_service("app", version="v2", configuration=CONFIG) == "completed"
    assert fake.svcs["app"].image == f"{STACK}/app:v2-222222222222"  # the release's content tag
    assert actions.roll_service("app", version="v2", configuration=CONFIG) == "unchanged"
    assert actions.roll_service("app", version="v1", configuration=CONFIG) == "completed"
    assert fake.svcs["app"].image == f"{STACK}/app:v1-111111111111"
    assert fake.calls[-1] == "rollback app"  # back to what the roll replaced: the engine's rollback
    with pytest.raises(ActivityFailed, match="no release 'v9' of app is built"):
        actions.roll_service("app", version="v9", configuration=CONFIG)
    with pytest.raises(ActivityFailed, match="needs a version, an image or env"):
        actions.roll_service("app", configuration=CONFIG)


def test_a_roll_is_finished_only_once_no_task_of_the_replaced_image_still_runs(
        fake: FakeDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine says rollback_completed once the new tasks run; the replaced one may still
    drain, serving through the load balancer: the undo waits until it has stopped."""
    actions.roll_service("app", version="v2", configuration=CONFIG)
    looks = {"n": 0}
    tasks = fake.tasks

    def draining(service: str, desired_running: bool = False) -> list[TaskInfo]:
        looks["n"] += 1
        found = tasks(service, desired_running)
        if looks["n"] <= 2:  # a v2 task drains for the first two looks
            found.append(TaskInfo("old", 1, f"{STACK}/app:v2-222222222222", "running", "shutdown"))
        return found

    monkeypatch.setattr(fake, "tasks", draining)
    assert actions.roll_service("app", version="v1", configuration=CONFIG) == "completed"
    assert looks["n"] == 3  # it looked until the draining task was gone

    looks["n"] = -10_000  # a task that never stops: the undo times out and names it
    actions.roll_service("app", version="v2", configuration=CONFIG)
    with pytest.raises(ActivityFailed, match=r"a task of .*app:v2-222222222222 still running"):
        actions.roll_service("app", version="v1", timeout=1.5, configuration=CONFIG)


def test_a_roll_to_a_release_the_last_update_did_not_replace_is_a_rolling_update(fake: FakeDriver) -> None:
    actions.roll_service("app", version="v2", configuration=CONFIG)
    actions.roll_service("app", env={"LOG_LEVEL": "debug"}, configuration=CONFIG)  # the spec changed since
    assert actions.roll_service("app", version="v1", configuration=CONFIG) == "completed"
    assert fake.calls[-1] == f"update app image={STACK}/app:v1-111111111111"
    assert fake.svcs["app"].image == f"{STACK}/app:v1-111111111111"


def test_a_crashing_release_ends_rolled_back_by_the_engine(fake: FakeDriver) -> None:
    assert actions.roll_service("app", version="v2-crash", configuration=CONFIG) == "rollback_completed"
    assert fake.svcs["app"].image == f"{STACK}/app:v1-111111111111"


def test_deploy_release_reports_live_or_rolled_back(fake: FakeDriver) -> None:
    live = actions.deploy_release("app", "v2", guard="false", configuration=CONFIG)
    assert (live["outcome"], live["version"], live["previous"]) == ("live", "v2", "v1")
    actions.roll_service("app", version="v1", configuration=CONFIG)
    crashed = actions.deploy_release("app", "v2-crash", guard=False, configuration=CONFIG)
    assert (crashed["outcome"], crashed["rolled_back_by"]) == ("rolled-back", "swarm")
    assert crashed["reason"] == ("Swarm rolled back: task app.1 of v2-crash failed before it became healthy "
                                 "(task: non-zero exit (1))")
    assert crashed["restored_s"] is not None


def test_loss_both_ways_and_its_removal(fake: FakeDriver) -> None:
    before = fake.state()
    changed = actions.add_network_fault("cache", loss_pct=30, inbound=True, configuration=CONFIG)
    assert changed == [f"{STACK}_cache.1: drop 30% both ways"]
    ns = fake.netns[fake.ctrs["cache"][0].info.pid]
    assert ns.chains == {actions.CHAIN: ["! -o lo -m statistic --mode random --probability 0.3000 -j DROP"]}
    assert ns.output == [f"-j {actions.CHAIN}"]
    assert ns.input == [f"! -i lo -j {actions.CHAIN}"]
    assert actions.remove_network_fault("cache", configuration=CONFIG) == [f"{STACK}_cache.1: loss removed"]
    assert fake.state() == before


def test_a_partition_drops_everything_but_loopback(fake: FakeDriver) -> None:
    before = fake.state()
    actions.partition_service("cache", configuration=CONFIG)
    ns = fake.netns[fake.ctrs["cache"][0].info.pid]
    assert ns.chains[actions.CHAIN] == ["! -o lo -j DROP"]
    actions.remove_network_fault("cache", configuration=CONFIG)
    assert fake.state() == before


def test_latency_goes_to_the_proxy_and_back_to_zero(fake: FakeDriver) -> None:
    before = fake.state()
    proxy = fake.ctrs["dbproxy"][0]
    assert actions.add_network_fault("dbproxy", delay_ms=300, jitter_ms=20, configuration=CONFIG) == [
        f"{proxy.info.name}: 300 ms +/- 20 ms"]
    assert proxy.latency == "300 20"
    actions.remove_network_fault("dbproxy", configuration=CONFIG)
    assert fake.state() == before
    actions.set_proxy_latency("dbproxy", 150, configuration=CONFIG)
    assert proxy.latency == "150 0"
    actions.set_proxy_latency("dbproxy", 0, configuration=CONFIG)
    assert fake.state() == before
    with pytest.raises(ActivityFailed, match="no latency proxy in front of 'cache'"):
        actions.add_network_fault("cache", delay_ms=100, configuration=CONFIG)
    with pytest.raises(ActivityFailed, match="delay and jitter must be >= 0 and loss between 0 and 100"):
        actions.add_network_fault("cache", loss_pct=101, configuration=CONFIG)


def test_cpu_stress_and_its_stop(fake: FakeDriver) -> None:
    before = fake.state()
    victims = actions.stress_cpu("app", seconds=5, count=2, configuration=CONFIG)
    assert len(victims) == 2
    assert sorted(actions.stop_cpu_stress("app", configuration=CONFIG)) == sorted(victims)
    assert fake.state() == before


def test_the_safety_net_undoes_every_kind_of_fault_at_once(fake: FakeDriver) -> None:
    before = fake.state()
    actions.pause_service("cache", configuration=CONFIG)
    actions.add_network_fault("app", loss_pct=50, configuration=CONFIG)
    actions.add_network_fault("dbproxy", delay_ms=300, configuration=CONFIG)
    actions.stress_cpu("app", seconds=30, count=1, configuration=CONFIG)
    actions.stop_service("dbproxy", configuration=CONFIG)
    assert fake.state() != before
    undone = actions.restore_everything(["app", "cache", "dbproxy", "missing"], configuration=CONFIG)
    # the stopped proxy has no container whose latency to reset: the one restored starts at 0
    assert undone == ["remove_network_fault(app)", "stop_cpu_stress(app)", "unpause_service(cache)",
                      "restore_service(dbproxy)"]
    assert fake.state() == before
    assert actions.restore_everything(["app", "cache", "dbproxy"], configuration=CONFIG) == []  # nothing left


def test_only_the_stacks_own_services_are_touched(fake: FakeDriver) -> None:
    with pytest.raises(ActivityFailed, match="the stack 'other' has no service 'app'"):
        actions.kill_tasks("app", configuration={"devsim_stack": "other"})
    assert not [c for c in fake.calls if c.startswith("kill")]


def test_the_registry_holds_every_fault_with_its_undo() -> None:
    """Written out by hand: each fault of the extension, what undoes it, and whether the
    safety net runs that undo after every experiment."""
    assert {(f.name, f.undo, f.net) for f in registry.faults()} == {
        ("kill_tasks", "wait_until_converged", False), ("restart_service", "wait_until_converged", False),
        ("pause_service", "unpause_service", True), ("stop_service", "restore_service", True),
        ("roll_service", "roll_service", False), ("deploy_release", "roll_service", False),
        ("add_network_fault", "remove_network_fault", True), ("partition_service", "remove_network_fault", True),
        ("set_proxy_latency", "remove_network_fault", True), ("stress_cpu", "stop_cpu_stress", True),
        ("kill_db_leader", "wait_until_db_whole", False), ("switchover_db", "wait_until_db_whole", False),
        ("destroy_db_data", "restore_db_if_lost", False), ("delete_rows_by_mistake", "restore_db_if_lost", False),
        ("spike_load", "stop_load_spike", False),  # the stack's, not a service's: the net runs it once
    }
    assert [name for name, _ in actions._safety_net()] == ["unpause_service", "remove_network_fault",
                                                           "stop_cpu_stress", "restore_service"]


def test_every_action_the_extension_lists_says_what_it_is() -> None:
    listed = {name for names in discovery.ACTIONS.values() for name in names}
    assert {name: registry.kind(name) for name in listed if registry.kind(name) is None} == {}
    undos = {f.undo for f in registry.faults()}
    assert undos - listed == set()  # every undo is an action an experiment can name
    steps = sorted(n for n in listed if registry.kind(n) == "step")
    assert steps == ["archive_now", "restore_db", "wait_for_load_spike", "write_marker"]
    assert {registry.kind(n) for n in undos} == {"fault", "undo"}  # roll_service undoes a release and is a fault


def test_an_action_registered_twice_is_refused() -> None:
    with pytest.raises(RuntimeError) as raised:
        registry.step(service_faults.kill_tasks)
    assert str(raised.value) == "the extension registers kill_tasks twice"


def test_every_action_of_ours_is_registered() -> None:
    helpers = {"image_for", "stopped"}
    public = [name for name, obj in vars(actions).items()
              if inspect.isfunction(obj) and obj.__module__.startswith("harness.chaos.faults")
              and name not in helpers]
    assert public, "no action found"
    assert [n for n in public if registry.kind(n) is None] == []
    assert service_faults.SCALED_FROM == actions.SCALED_FROM


@pytest.mark.parametrize(
    ("state", "restored_to"),
    [
        ({"mistake_at": 200.0}, ["before-the-mistake"]),  # the run died between the mistake and its restore
        ({"mistake_at": 200.0, "restored_at": 150.0}, ["before-the-mistake"]),  # a restore of an earlier run
        ({"mistake_at": 200.0, "restored_at": 260.0}, []),  # the method restored it: nothing left to undo
        ({}, []),  # no mistake in this process
    ],
)
def test_the_undo_of_a_mistake_restores_to_before_it_unless_a_restore_already_did(
        monkeypatch: pytest.MonkeyPatch, state: dict[str, float], restored_to: list[str]) -> None:
    asked: list[str] = []
    monkeypatch.setattr(backups, "_state", dict(state))
    monkeypatch.setattr(backups, "restore_db", lambda target, repo, configuration=None: asked.append(target))

    class Whole:
        def leader(self) -> str:
            return "db1"

    monkeypatch.setattr(backups, "_cluster", lambda configuration: Whole())
    said = backups.restore_db_if_lost(configuration=CONFIG)
    assert asked == restored_to
    assert said == ("restored to before the mistake from repository 1" if restored_to
                    else "the cluster has a leader: nothing to restore")


@pytest.fixture
def cluster() -> Iterator[FakeDriver]:
    driver = FakeDriver(STACK, services={})
    driver.add_patroni("db1", "db2", "db3")
    engine.use_factory(lambda stack: driver)
    yield driver
    engine.use_factory(driver_for)


def test_kill_the_leader_and_wait_for_the_cluster_to_be_whole(cluster: FakeDriver) -> None:
    before = time.time()
    killed = database.kill_db_leader(configuration=CONFIG)
    assert before <= killed.pop("applied_at") <= time.time()
    assert killed == {"leader": "db1", "signal": "SIGKILL", "replicas_cut_off_s": 0.0}
    assert [c for c in cluster.calls if c.startswith("kill")] == [f"kill {STACK}_db1.1 SIGKILL"]
    assert database.seconds_until_db_leader(timeout=1, configuration=CONFIG) >= 0
    assert database.db_leaders(configuration=CONFIG) == 1
    assert database.wait_until_db_whole(timeout=1, configuration=CONFIG) == (
        "db1 replica (streaming), db2 leader (running), db3 replica (streaming)")


def test_kill_with_the_replicas_cut_off_reconnects_them(cluster: FakeDriver) -> None:
    before = cluster.state()
    started = time.time()
    killed = database.kill_db_leader(replicas_cut_off_s=0.05, configuration=CONFIG)
    assert killed["applied_at"] >= started + 0.05  # the kill, after the cut-off
    cut = [c for c in cluster.calls if c.startswith("netns") and f" -N {actions.CHAIN}" in c]
    assert cut == [f"netns {STACK}_{m}.1 iptables -w 5 -N {actions.CHAIN}" for m in ("db2", "db3")]
    assert cluster.state() == before  # every chain gone again (roles are not part of the state)


def test_after_a_cut_off_the_new_leader_is_timed_from_the_kill(cluster: FakeDriver) -> None:
    controls.before_experiment_control({})
    controls.before_method_control({})
    controls.before_activity_control({"type": "action", "name": "kill"})  # the fault starts: the cut-off
    try:
        killed = database.kill_db_leader(replicas_cut_off_s=0.4, configuration=CONFIG)
        fault_start = runstate.fault_start()
        assert fault_start is not None
        assert killed["applied_at"] - fault_start >= 0.4
        assert database.seconds_until_db_leader(timeout=1, configuration=CONFIG) < 0.3  # not counting the 0.4 s
        assert database.seconds_until_db_whole(timeout=1, configuration=CONFIG) < 0.3
    finally:
        runstate.reset()


def test_a_switchover_moves_the_leader(cluster: FakeDriver) -> None:
    moved = database.switchover_db(candidate="db3", configuration=CONFIG)
    assert moved == {"from": "db1", "to": "db3", "changed": True, "attempts": 1}
    assert cluster.roles == {"db1": "replica", "db2": "replica", "db3": "leader"}


def test_a_switchover_that_happened_though_patroni_answered_412_is_seen_as_made(cluster: FakeDriver) -> None:
    cluster.switchover_answer = "no good candidates have been found\n412"  # yet it switched over
    moved = database.switchover_db(candidate="db3", configuration=CONFIG)
    # asked again: "leader name does not match" (db1 no longer leads): the move is what counts
    assert moved == {"from": "db1", "to": "db3", "changed": True, "attempts": 2}


def test_a_switchover_patroni_refuses_throughout_fails_with_its_answer(cluster: FakeDriver,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.chaos.database.time.sleep", lambda s: None)
    monkeypatch.setattr(cluster, "_promote", lambda member: None)  # never switches
    cluster.switchover_answer = "no good candidates have been found\n412"
    with pytest.raises(ActivityFailed) as raised:
        database.switchover_db(candidate="db3", configuration=CONFIG)
    assert str(raised.value) == ("Patroni refused the switchover from db1 (20 attempts): 412 no good candidates "
                                 "have been found")


def test_a_cluster_that_stays_broken_fails_its_undo_with_the_roles(cluster: FakeDriver) -> None:
    cluster.member_state["db3"] = "stopped"
    with pytest.raises(ActivityFailed) as raised:
        database.wait_until_db_whole(timeout=0.2, configuration=CONFIG)
    assert str(raised.value).startswith(
        "the database cluster is not whole after 0.2 s: db1 leader (running), db2 replica (streaming), "
        "db3 replica (stopped); last log lines: db1: a log line")


def test_what_the_configuration_leaves_out_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSIM_STACK", "other")
    monkeypatch.setenv("DEVSIM_LB_TLS_PORT", "18443")
    monkeypatch.setenv("DEVSIM_MAILSINK_PORT", "18025")
    monkeypatch.setenv("DEVSIM_STATE_DIR", "/tmp/devsim-state")
    found = engine.target({"request_log": "/tmp/r.csv", "prometheus_url": "http://127.0.0.1:19090/"})
    assert found == engine.Target("other", "https://127.0.0.1:18443", "http://127.0.0.1:19090", "/tmp/r.csv",
                                  "http://127.0.0.1:18025", "/tmp/devsim-state/other-ca.pem")


def test_the_extension_verifies_the_edge_against_the_ca_file_its_configuration_names(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    given = {"devsim_stack": "s", "lb_url": "https://127.0.0.1:1", "prometheus_url": "http://127.0.0.1:2",
             "mailsink_url": "http://127.0.0.1:3", "devsim_ca_file": "/tmp/one-ca.pem"}
    assert engine.http(given).ca_file == Path("/tmp/one-ca.pem")
    assert engine.http(given) is engine.http(dict(given))  # one session per CA file
    assert engine.http({**given, "devsim_ca_file": "/tmp/two-ca.pem"}).ca_file == Path("/tmp/two-ca.pem")
    plain = {**given, "lb_url": "http://127.0.0.1:1", "devsim_ca_file": ""}
    assert engine.http(plain).ca_file is None


def exec_done(child: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """The stand-in once bash has exec'd it: before, its command line is this test's or bash's,
    and while bash execs it reads empty, so the spike's check of "is it Locust" said no (a
    safety-net test that found no spike one run in four: the command line was b'')."""
    deadline = time.monotonic() + 5
    while (not Path(f"/proc/{child.pid}/cmdline").read_bytes().startswith(b"locust-spike")
           and time.monotonic() < deadline):
        time.sleep(0.01)
    return child


def test_the_safety_net_ends_a_load_spike_left_running(fake: FakeDriver, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A process named like Locust, in a session of its own, stands in for the spike's."""
    monkeypatch.setenv("DEVSIM_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(engine, "_settings", {})  # no settings an earlier test's run handed in
    # Ctrl-C at its default, as the real spike's Locust has it (runner.load_child): a suite started
    # as a background job inherits SIGINT ignored, and so would the stand-in (CI, 2026-12-07)
    spike = exec_done(subprocess.Popen(["bash", "-c", "exec -a locust-spike sleep 60"], start_new_session=True,
                                       preexec_fn=default_sigint))
    try:
        pid_file = load_spike.pid_file(CONFIG)
        pid_file.write_text(str(spike.pid))
        started = time.monotonic()
        assert "stop_load_spike()" in actions.restore_everything(["app"], configuration=CONFIG)
        assert spike.wait(timeout=5) == -signal.SIGINT
        assert time.monotonic() - started < 5
        assert not pid_file.exists()
        assert actions.stop_load_spike(configuration=CONFIG) == ""  # nothing left: says nothing
    finally:
        if spike.poll() is None:
            spike.kill()


def test_waiting_for_a_load_spike_lasts_until_its_locust_ends(fake: FakeDriver, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A ramp held to its end (benchmarks/autoscale.py): the wait ends when the stand-in ends on
    its own; one that outlives the timeout is refused and left to the undo."""
    monkeypatch.setenv("DEVSIM_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(engine, "_settings", {})
    assert actions.wait_for_load_spike(configuration=CONFIG) == 0  # none runs
    short = exec_done(subprocess.Popen(["bash", "-c", "exec -a locust-spike sleep 1.5"], start_new_session=True))
    long = exec_done(subprocess.Popen(["bash", "-c", "exec -a locust-spike sleep 60"], start_new_session=True))
    try:
        load_spike.pid_file(CONFIG).write_text(str(short.pid))
        assert 1.0 <= actions.wait_for_load_spike(timeout=10, configuration=CONFIG) < 5
        load_spike.pid_file(CONFIG).write_text(str(long.pid))
        started = time.monotonic()
        with pytest.raises(ActivityFailed, match=r"^the load spike still runs after 1 s$"):
            actions.wait_for_load_spike(timeout=1, configuration=CONFIG)
        assert time.monotonic() - started < 3
        assert long.poll() is None  # not ended by the wait
    finally:
        for child in (short, long):
            if child.poll() is None:
                child.kill()
            child.wait()


def test_seconds_until_replicas_counts_up_and_down_from_the_latest_action(fake: FakeDriver) -> None:
    """A scale the fake engine makes half a second after the probe starts, each way; and one
    that never comes, refuted with the time waited."""
    from harness.chaos import scaling
    from harness.chaos.evidence import Refuted

    def scale_later(replicas: int) -> threading.Thread:
        def scale() -> None:
            time.sleep(0.5)
            fake.update("app", replicas=replicas)

        thread = threading.Thread(target=scale)
        thread.start()
        return thread

    since = time.time()
    scale_later(5)
    found = scaling.seconds_until_replicas("app", 4, "up", timeout=5, since=since, configuration=CONFIG)
    assert 0.5 <= found < 2.0
    scale_later(3).join()
    assert scaling.seconds_until_replicas("app", 3, "down", timeout=5, since=since, configuration=CONFIG) >= 0.5
    with pytest.raises(Refuted, match=r"app: not at least 4 ready replicas within 1 s \(3 ready\)") as refuted:
        scaling.seconds_until_replicas("app", 4, "up", timeout=1, since=since, configuration=CONFIG)
    assert refuted.value.at_least is not None
    assert refuted.value.at_least >= 1


def test_lowest_replicas_sees_a_dip_between_two_reads(fake: FakeDriver) -> None:
    from harness.chaos import scaling

    def dip() -> None:
        time.sleep(0.3)
        fake.update("app", replicas=2)
        time.sleep(0.6)
        fake.update("app", replicas=3)

    thread = threading.Thread(target=dip)
    thread.start()
    assert scaling.lowest_replicas("app", seconds=1.5, configuration=CONFIG) == 2
    thread.join()
    assert scaling.lowest_replicas("app", seconds=0.6, configuration=CONFIG) == 3
