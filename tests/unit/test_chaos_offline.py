"""The extension's pure parts, from a recorded run (tests/unit/data/chaos-run) and synthetic logs."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from harness.chaos import claims as claimlib
from harness.chaos import controls, runstate, window
from harness.load import clientlog
from harness.verdict.judge import status as _status

DATA = Path(__file__).parent / "data" / "chaos-run"


def req(ts: int, ok: bool, latency: float = 10.0, name: str = "GET /x", status: int = 200) -> clientlog.Request:
    return clientlog.Request(ts, name, status if ok else 503, latency, ok, "", "")


def test_longest_failure_run_spans_first_failure_start_to_last_failure_end() -> None:
    rows = [req(0, True), req(100, False, 5), req(400, False, 50), req(500, True),
            req(1000, False, 20), req(1100, True)]
    assert clientlog.longest_failure_run_s(rows) == pytest.approx(0.35)
    assert clientlog.longest_failure_run_s([req(0, True)]) == 0.0
    assert clientlog.longest_failure_run_s([req(0, False, 10), req(2000, False, 10)]) == pytest.approx(2.01)


def test_error_ratio_and_percentile() -> None:
    rows = [req(i, i % 4 != 0, latency=float(i)) for i in range(1, 101)]
    assert clientlog.error_ratio(rows) == pytest.approx(25 / 100)
    assert clientlog.percentile([r.latency_ms for r in rows], 95) == 95.0
    assert math.isnan(clientlog.error_ratio([]))
    assert math.isnan(clientlog.percentile([], 50))


def test_window_selects_by_start_time_and_name() -> None:
    rows = [req(1000, True), req(2000, True, name="GET /y"), req(3000, True)]
    assert [r.ts_ms for r in clientlog.within(rows, 1.5, 3.0)] == [2000, 3000]
    assert [r.ts_ms for r in clientlog.within(rows, 0, 10, "GET /y")] == [2000]


def test_resolve_window_forms() -> None:
    assert window.resolve_window([1, 2]) == (1.0, 2.0)
    start, end = window.resolve_window("30s")
    assert end - start == pytest.approx(30, abs=0.1)
    with pytest.raises(ActivityFailed, match="bad window"):
        window.resolve_window("yesterday")


def test_control_opens_the_fault_window_at_the_first_method_action() -> None:
    controls.before_experiment_control({})
    assert runstate.fault_window() is None
    controls.before_activity_control({"type": "probe", "name": "steady"})
    controls.before_method_control({})
    controls.before_activity_control({"type": "probe", "name": "look"})
    assert runstate.fault_window() is None
    before = time.time()
    controls.before_activity_control({"type": "action", "name": "kill"})
    controls.after_method_control({})
    opened = runstate.fault_window()
    assert opened is not None
    assert before <= opened[0] <= opened[1] <= time.time()
    runstate.reset()
    with pytest.raises(ActivityFailed, match="has not opened"):
        window.resolve_window("fault")


def test_the_applied_window_starts_where_the_first_action_says_it_applied_its_fault() -> None:
    controls.before_experiment_control({})
    controls.before_method_control({})
    controls.before_activity_control({"type": "action", "name": "cut-off-then-kill"})
    with pytest.raises(ActivityFailed, match="has not ended yet"):
        window.resolve_window("applied")
    start = runstate.fault_start()
    assert start is not None
    time.sleep(0.05)
    killed = time.time()
    time.sleep(0.05)
    controls.after_activity_control({"type": "action", "name": "cut-off-then-kill"},
                                    {"status": "succeeded", "output": {"applied_at": killed}})
    first = runstate.first_action()
    assert first is not None
    assert first[0] == start
    assert window.resolve_window("applied") == (killed, first[1])
    assert window.resolve_window("first-action") == (start, first[1])
    # a second action's output does not move it
    controls.after_activity_control({"type": "action", "name": "again"}, {"output": {"applied_at": first[1]}})
    assert window.resolve_window("applied") == (killed, first[1])


@pytest.mark.parametrize("output", [None, {"leader": "db1"}, {"applied_at": True}, {"applied_at": "soon"},
                                    {"applied_at": 1.0}, {"applied_at": 9e12}])
def test_without_a_believable_moment_the_applied_window_is_the_first_action(output: object) -> None:
    controls.before_experiment_control({})
    controls.before_method_control({})
    controls.before_activity_control({"type": "action", "name": "kill"})
    controls.after_activity_control({"type": "action", "name": "kill"}, {"status": "succeeded", "output": output})
    assert window.resolve_window("applied") == runstate.first_action()
    runstate.reset()
    assert runstate.first_action_applied() is None


def test_the_latest_action_start_is_what_an_all_clear_is_timed_from() -> None:
    controls.before_experiment_control({})
    controls.before_method_control({})
    assert runstate.origin("last-action") == pytest.approx(time.time(), abs=0.5)  # none yet: now
    controls.before_activity_control({"type": "action", "name": "take-it-down"})
    first = runstate.last_action_start()
    time.sleep(0.05)
    controls.before_activity_control({"type": "probe", "name": "wait-for-the-page"})
    assert runstate.last_action_start() == first  # a probe does not move it
    controls.before_activity_control({"type": "action", "name": "bring-it-back"})
    second = runstate.last_action_start()
    assert first is not None
    assert second is not None
    assert second >= first + 0.05
    assert runstate.origin("last-action") == second
    window = runstate.fault_window()
    assert window is not None
    assert window[0] == first
    runstate.reset()
    assert runstate.last_action_start() is None


def journal() -> dict[str, object]:
    return json.loads((DATA / "journal.json").read_text())  # type: ignore[no-any-return]


def test_fault_window_comes_from_the_journal() -> None:
    recorded = journal()
    window = claimlib.fault_window(recorded)
    assert window is not None
    kill = next(r for r in recorded["run"] if r["activity"]["type"] == "action")  # type: ignore[index,union-attr]
    assert window.start == pytest.approx(claimlib.journal_ts(kill["start"]))
    after = recorded["steady_states"]["after"]["probes"][0]["start"]  # type: ignore[index]
    assert window.end == pytest.approx(claimlib.journal_ts(after))
    assert window.end >= max(claimlib.journal_ts(r["end"]) for r in recorded["run"])  # type: ignore[union-attr]


def test_claims_of_a_recorded_run_agree_with_its_request_log() -> None:
    recorded = journal()
    window = claimlib.fault_window(recorded)
    assert window is not None
    config = {"request_log": str(DATA / "requests.csv")}
    found = claimlib.extension_claims(recorded["experiment"], recorded, window, config)  # type: ignore[arg-type]
    by_name = {c.name: c for c in found}
    with (DATA / "requests.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if window.start * 1000 <= int(r["ts_ms"]) <= window.end * 1000]
    ratio = sum(r["success"] == "0" for r in rows) / len(rows)
    crash = by_name["client error ratio over the fault window is at most 0.5 %"]
    assert crash.measured == pytest.approx(ratio)
    assert crash.passed == (ratio <= 0.005)
    recovery = by_name["Swarm brings back 3 ready replicas within 20 s"]
    recorded_output = next(r["output"] for r in recorded["run"]  # type: ignore[union-attr]
                           if r["activity"]["name"] == "seconds-until-three-ready-app-replicas")
    assert recovery.measured == recorded_output
    assert recovery.passed == (0 <= recorded_output <= 20)
    hypothesis = claimlib.hypothesis_claims(recorded)  # type: ignore[arg-type]
    assert len(hypothesis) == 4
    assert all(c.passed for c in hypothesis)


def test_a_claim_with_an_impossible_tolerance_fails_and_says_what_was_measured() -> None:
    recorded = journal()
    experiment = dict(recorded["experiment"])  # type: ignore[call-overload]
    experiment["extensions"] = [{"name": "devsim", "claims": [
        {"name": "impossible", "journal": "seconds-until-three-ready-app-replicas",
         "tolerance": {"type": "range", "range": [0, 0.001]}}]}]
    (claim,) = claimlib.extension_claims(experiment, recorded, claimlib.fault_window(recorded), {})  # type: ignore[arg-type]
    assert not claim.passed
    assert claim.expected == "between 0 and 0.001"
    assert claim.measured > 0.001
    status, reason = _status(recorded, [claim], "")  # type: ignore[arg-type]
    assert status == "failed"
    assert reason.startswith("claim 'impossible' failed: expected between 0 and 0.001, measured ")


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"name": "x", "tolerance": 0}, "needs exactly one of 'probe' or 'journal'"),
        ({"name": "x", "probe": "nope", "tolerance": 0}, "has no probe 'nope'"),
        ({"name": "x", "probe": "client_error_ratio", "arguments": {"windw": "fault"}, "tolerance": 0},
         "arguments do not match client_error_ratio()"),
        ({"name": "x", "journal": "missing", "tolerance": 0}, "the method has no activity named 'missing'"),
        ({"name": "x", "journal": "kill"}, "has no tolerance"),
        ({"name": "x", "journal": "kill", "tolerance": {"type": "range", "range": [1]}}, "claim 'x'"),
        ("text", "a claim must be a mapping with a name"),
    ],
)
def test_malformed_claims_are_named(spec: object, problem: str) -> None:
    found = claimlib.spec_problems(spec, {"kill"})
    assert found
    assert problem in found[0]


def test_interrupted_runs_are_errors() -> None:
    status, reason = _status({"status": "interrupted"}, [], "interrupted (SIGTERM)")
    assert status == "error"
    assert reason == "interrupted (SIGTERM); rollbacks and the safety net ran"
