"""`devsim judge RUN_DIR`: a run folder judged again offline gives the recorded verdict, and
says where it does not. The folders are written by hand here: a journal, a request log, the
experiment as it ran, the Prometheus answers, and the verdict the run recorded."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.config import PROJECT_ROOT
from harness.errors import InfrastructureError, UsageError
from harness.experiment.rejudge import rejudge
from harness.metrics import recorded
from harness.runs import RunFiles
from harness.verdict.record import Abort, Claim, ControlRecord, Verdict, Window
from tests.unit.test_semantics import READY, T0, activity, journal, write_log

RATIO = {"name": "error ratio at most 0.5 %", "probe": "client_error_ratio", "arguments": {"window": "fault"},
         "tolerance": {"type": "range", "range": [0, 0.005]}}
UP = {"name": "three replicas up for Prometheus", "probe": "prometheus_over_window",
      "arguments": {"query": 'sum(up{job="app"})', "aggregate": "min"}, "tolerance": {"type": "range", "range": [3, 9]}}
NOWHERE = {"devsim_stack": "devsim", "lb_url": "https://127.0.0.1:9", "prometheus_url": "http://127.0.0.1:9",
           "mailsink_url": "http://127.0.0.1:9"}  # nothing listens: judging again must not ask


def folder(tmp_path: Path, failures: int, up_answers: list[tuple[float, float]], recorded: Verdict) -> Path:
    """A run folder: 200 requests over the fault window [T0, T0 + 10] (the first `failures`
    failed), `sum(up)` as Prometheus answered it over that window, and the recorded verdict."""
    run = tmp_path / recorded.run_id
    run.mkdir()
    recorded_journal = journal(run=[activity("kill", "action", T0, T0 + 1),
                                    activity("seconds-until-ready", "probe", T0 + 1, T0 + 8, output=7.0)])
    (run / "journal.json").write_text(json.dumps(recorded_journal))
    write_log(run / "requests.csv", [(T0 + i * 0.05, i >= failures) for i in range(200)])
    (run / "experiment.json").write_text(json.dumps({"title": "t", "configuration": NOWHERE, "extensions": [
        {"name": "devsim", "claims": [RATIO, READY, UP]}]}))
    (run / "claim_series.json").write_text(json.dumps([
        {"query": [UP["arguments"]["query"], T0, T0 + 10, 1.0], "series": [up_answers]}]))
    recorded.write(RunFiles(run))
    return run


def steady(value: float) -> list[tuple[float, float]]:
    return [(T0 + s, value) for s in range(11)]


def claims(ratio: float, up: float, ratio_outcome: str = "held", up_outcome: str = "held") -> tuple[Claim, ...]:
    fault = (T0, T0 + 10)
    return (Claim("steady state before the fault: health", "steady-state hypothesis", 200, 200, "held"),
            Claim("steady state after the fault: health", "steady-state hypothesis", 200, 200, "held"),
            Claim(RATIO["name"], 'client_error_ratio({"window": "fault"})', "between 0 and 0.005", ratio,
                  ratio_outcome, window=fault),
            Claim(READY["name"], "journal: seconds-until-ready", "between 0 and 20", 7.0, "held"),
            Claim(UP["name"], 'prometheus_over_window({"aggregate": "min", "query": "sum(up{job=\\"app\\"})", '
                  '"window": "fault"})', "between 3 and 9", up, up_outcome, window=fault))


def verdict(status: str, reason: str, found: tuple[Claim, ...]) -> Verdict:
    return Verdict("r1", "t", "x.yaml", status, reason, found, fault_window=Window(T0, T0 + 10))


def test_a_passed_run_is_judged_again_to_the_same_verdict_without_prometheus(tmp_path: Path) -> None:
    recorded = verdict("passed", "all 5 claims held", claims(0.0, 3.0))
    found = rejudge(folder(tmp_path, 0, steady(3.0), recorded))
    assert found.differences == ()
    assert (found.verdict.status, found.verdict.reason) == ("passed", "all 5 claims held")
    assert [c.measured for c in found.verdict.claims] == [200, 200, 0.0, 7.0, 3.0]


def test_a_failed_run_is_judged_again_from_its_recorded_answers(tmp_path: Path) -> None:
    answers = [*steady(3.0)[:4], (T0 + 4, 2.0), *steady(3.0)[5:]]  # one replica out for a step
    recorded = verdict("failed", "claim 'error ratio at most 0.5 %' failed: expected between 0 and 0.005, "
                       "measured 0.01", claims(0.01, 2.0, "failed", "failed"))
    found = rejudge(folder(tmp_path, 2, answers, recorded))  # 2 of 200 failed: 1 %
    assert found.differences == ()
    assert found.verdict.status == "failed"


def test_what_judging_again_changes_is_named_claim_by_claim(tmp_path: Path) -> None:
    recorded = verdict("passed", "all 5 claims held", claims(0.0, 3.0))  # but the folder shows a failure
    found = rejudge(folder(tmp_path, 2, [*steady(3.0)[:4], (T0 + 4, math.nan), *steady(3.0)[5:]], recorded))
    assert found.differences == (
        "verdict: recorded passed (all 5 claims held), judged again failed (claim 'error ratio at most 0.5 %' "
        "failed: expected between 0 and 0.005, measured 0.01)",
        "claim 'error ratio at most 0.5 %': recorded held (0.0), judged again failed (0.01)",
        f"claim 'three replicas up for Prometheus': recorded held (3.0), judged again no evidence (None, 'sum(up"
        f"{{job=\"app\"}})' between {T0:.0f} and {T0 + 10:.0f}: 1 of 11 steps are NaN)")


def test_a_claim_whose_window_alone_changed_says_so(tmp_path: Path) -> None:
    """Outcome and value the same, the window not (runs recorded before claims kept theirs):
    the line says which field differs, not two identical-looking halves."""
    found = claims(0.0, 3.0)
    recorded = verdict("passed", "all 5 claims held", (*found[:2], replace(found[2], window=None), *found[3:]))
    again = rejudge(folder(tmp_path, 0, steady(3.0), recorded))
    assert again.differences == (
        f"claim 'error ratio at most 0.5 %': recorded held (0.0), judged again held (0.0); window recorded None, "
        f"judged again ({T0!r}, {T0 + 10!r})",)


def test_a_claim_on_a_query_the_run_did_not_record_is_an_error_not_a_live_query(tmp_path: Path) -> None:
    run = folder(tmp_path, 0, steady(3.0), verdict("passed", "all 5 claims held", claims(0.0, 3.0)))
    (run / "claim_series.json").unlink()
    found = rejudge(run)
    up = next(c for c in found.verdict.claims if c.name == UP["name"])
    assert up.outcome == "error"
    assert "the run did not record 'sum(up{job=\"app\"})'" in up.error


@pytest.mark.parametrize(("remove", "message"), [
    ("verdict.json", "has no verdict.json: not the folder of a `devsim run` run"),
    ("experiment.json", "has no experiment.json: it was recorded before runs kept their experiment, and its "
                        "journal has none"),
])
def test_a_folder_that_cannot_be_judged_again_is_one_line(tmp_path: Path, remove: str, message: str) -> None:
    run = folder(tmp_path, 0, steady(3.0), verdict("passed", "all 5 claims held", claims(0.0, 3.0)))
    (run / remove).unlink()
    done = subprocess.run([sys.executable, "-m", "harness.cli", "judge", str(run)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"devsim: error: {run} {message}"), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("damage", "message"), [
    (lambda run: (run / "verdict.json").unlink(), "{run} has no verdict.json: not the folder of a `devsim run` run"),
    (lambda run: (run / "verdict.json").write_text("{"), "cannot read {run}/verdict.json: "),
    (lambda run: (run / "verdict.json").write_text("{}"), "{run}/verdict.json is not a run's verdict: 'run_id'"),
])
def test_what_cannot_be_judged_again_says_why_in_one_line(tmp_path: Path, damage: Any, message: str) -> None:
    run = folder(tmp_path, 0, steady(3.0), verdict("passed", "all 5 claims held", claims(0.0, 3.0)))
    damage(run)
    with pytest.raises(UsageError) as caught:
        rejudge(run)
    assert caught.value.one_line().startswith(message.format(run=run))


def test_the_command_exits_with_the_verdict_and_says_it_is_the_same(tmp_path: Path) -> None:
    run = folder(tmp_path, 2, steady(3.0), verdict(
        "failed", "claim 'error ratio at most 0.5 %' failed: expected between 0 and 0.005, measured 0.01",
        claims(0.01, 3.0, "failed")))
    done = subprocess.run([sys.executable, "-m", "harness.cli", "judge", str(run)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "FAILED: x.yaml: claim 'error ratio at most 0.5 %' failed: expected between 0 and 0.005, measured 0.01",
        f"judged again from {run}: the verdict recorded, claim for claim"]


def test_a_claim_on_a_probe_that_reads_the_live_stack_is_refused_by_validation() -> None:
    from harness.chaos.claims import spec_problems

    found = spec_problems({"name": "c", "probe": "ready_replicas", "arguments": {"service": "app"},
                           "tolerance": 3}, set())
    assert found == ["claim 'c': ready_replicas reads the live stack when the run is judged, after the recovery; "
                     "call it in the method and claim on its output (journal: <its name>)"]


def test_a_run_recorded_before_experiment_json_is_judged_from_its_journals_copy(tmp_path: Path) -> None:
    run = folder(tmp_path, 0, steady(3.0), verdict("passed", "all 5 claims held", claims(0.0, 3.0)))
    recorded = json.loads((run / "journal.json").read_text())
    recorded["experiment"] = json.loads((run / "experiment.json").read_text())  # as chaoslib writes it
    (run / "journal.json").write_text(json.dumps(recorded))
    (run / "experiment.json").unlink()
    assert rejudge(run).differences == ()


def test_a_proved_run_is_judged_again_with_its_control_runs_verdicts(tmp_path: Path) -> None:
    control_claims = claims(0.02, 3.0, "failed")  # the ratio failed under the control: shown
    under = Verdict("r0", "t", "x.yaml", "failed", "claim 'error ratio at most 0.5 %' failed: expected between 0 and "
                    "0.005, measured 0.02", control_claims, fault_window=Window(T0, T0 + 10))
    (tmp_path / "r0").mkdir()
    under.write(RunFiles(tmp_path / "r0"))
    shipped = claims(0.0, 3.0)
    proved = [Claim(**{**c.__dict__, "power": "shown", "power_note": "failed under control 'blind' (LB_RETRIES=0): "
                       "measured 0.02, run r0"}) if c.name == RATIO["name"] else c for c in shipped]
    recorded = Verdict(**{**verdict("passed", "all 5 claims held; 1 shown to fail under 1 control(s)",
                                    tuple(proved)).__dict__,
                          "controls": (ControlRecord.from_dict(
                              {"name": "blind", "switches": {"LB_RETRIES": "0"}, "must_fail": [RATIO["name"]],
                               "run_id": "r0", "status": "failed", "reason": under.reason}),)})
    found = rejudge(folder(tmp_path, 0, steady(3.0), recorded))
    assert found.differences == ()
    shown = next(c for c in found.verdict.claims if c.name == RATIO["name"])
    assert (shown.power, shown.power_note) == ("shown", "failed under control 'blind' (LB_RETRIES=0): measured 0.02, "
                                                        "run r0")
    other = Verdict(**{**under.__dict__, "run_id": "r9"})  # a control run that is not the one recorded
    other.write(RunFiles(tmp_path / "r0"))
    assert rejudge(tmp_path / "r1").differences == (
        "claim 'error ratio at most 0.5 %': power recorded shown (failed under control 'blind' (LB_RETRIES=0): "
        "measured 0.02, run r0), judged again shown (failed under control 'blind' (LB_RETRIES=0): measured 0.02, "
        "run r9)",)
    (tmp_path / "r0" / "verdict.json").unlink()  # the control's folder gone: nothing shows the claim any more
    again = rejudge(tmp_path / "r1")
    assert again.verdict.status == "error"
    assert again.differences[0].startswith("verdict: recorded passed (all 5 claims held; 1 shown to fail under 1 "
                                           "control(s)), judged again error (claim 'error ratio at most 0.5 %' is "
                                           "unproven: control 'blind': no verdict on the claim (")


class Live:
    """Prometheus as the recorder asks it: query "a" has one series (the window's two ends)."""

    def matrix(self, query: str, start: float, end: float, step: float = 1.0) -> list[list[tuple[float, float]]]:
        return [[(start, 1.0), (end, 2.0)]] if query == "a" else []


def test_the_recorder_keeps_each_answer_and_the_replay_gives_it_back(tmp_path: Path) -> None:
    path = tmp_path / "claim_series.json"
    keeper = recorded.Recorder(Live(), path)
    assert keeper.matrix("a", 10.0, 12.0, 1.0) == [[(10.0, 1.0), (12.0, 2.0)]]
    assert keeper.matrix("b", 10.0, 12.0, 0.5) == []
    assert [k["query"] for k in json.loads(path.read_text())] == [["a", 10.0, 12.0, 1.0], ["b", 10.0, 12.0, 0.5]]
    replay = recorded.Replay(path)
    assert replay.matrix("a", 10.0, 12.0, 1.0) == [[(10.0, 1.0), (12.0, 2.0)]]
    assert replay.matrix("b", 10.0, 12.0, 0.5) == []
    with pytest.raises(InfrastructureError, match=r"the run did not record 'a' over \[10.0, 12.5\] \(step 1 s\)"):
        replay.matrix("a", 10.0, 12.5, 1.0)


def test_the_recorder_adds_to_the_answers_already_in_its_file(tmp_path: Path) -> None:
    path = tmp_path / "claim_series.json"
    recorded.Recorder(Live(), path).matrix("a", 10.0, 20.0)
    recorded.Recorder(Live(), path).matrix("a", 30.0, 40.0)  # a second probe of the same run
    assert [k["series"] for k in json.loads(path.read_text())] == [[[[10.0, 1.0], [20.0, 2.0]]],
                                                                  [[[30.0, 1.0], [40.0, 2.0]]]]
    replay = recorded.Replay(path)
    assert replay.matrix("a", 10.0, 20.0) == [[(10.0, 1.0), (20.0, 2.0)]]
    assert replay.matrix("a", 30.0, 40.0) == [[(30.0, 1.0), (40.0, 2.0)]]


def test_a_recorded_answers_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "claim_series.json"
    path.write_text("not json")
    with pytest.raises(InfrastructureError) as raised:
        recorded.Replay(path)
    assert str(raised.value) == f"cannot read the recorded queries {path}: Expecting value: line 1 column 1 (char 0)"


# --- what the tests above leave open (mutation testing found each) ------------------------------

def _proved_without_a_run(tmp_path: Path, control: dict[str, Any]) -> Path:
    shipped = claims(0.0, 3.0)
    recorded = Verdict(**{**verdict("error", "claim 'error ratio at most 0.5 %' is unproven", shipped).__dict__,
                          "controls": (ControlRecord.from_dict({"name": "blind", "switches": {"LB_RETRIES": "0"},
                                                                "must_fail": [RATIO["name"]], **control}),)})
    return folder(tmp_path, 0, steady(3.0), recorded)


def test_a_control_that_did_not_run_leaves_its_reason_in_the_claims_power(tmp_path: Path) -> None:
    run = _proved_without_a_run(tmp_path, {"reason": "the stack did not come up"})
    (tmp_path / "None").mkdir()  # a control with no run id reads no folder, not one named "None"
    Verdict(**{**verdict("failed", "x", claims(0.02, 3.0, "failed")).__dict__, "run_id": "None"}).write(
        RunFiles(tmp_path / "None"))
    ratio = next(c for c in rejudge(run).verdict.claims if c.name == RATIO["name"])
    assert (ratio.power, ratio.power_note) == ("unproven", "control 'blind': no verdict on the claim "
                                                           "(the stack did not come up)")


def test_a_control_with_no_run_and_no_reason_did_not_run(tmp_path: Path) -> None:
    ratio = next(c for c in rejudge(_proved_without_a_run(tmp_path, {})).verdict.claims if c.name == RATIO["name"])
    assert ratio.power_note == "control 'blind': no verdict on the claim (it did not run)"


def test_an_interrupted_run_stays_interrupted(tmp_path: Path) -> None:
    reason = "interrupted (Ctrl-C) during the method; rollbacks and the safety net ran"
    recorded = verdict("error", reason, claims(0.0, 3.0))
    found = rejudge(folder(tmp_path, 0, steady(3.0), recorded))
    assert (found.verdict.status, found.verdict.reason) == ("error", reason)
    assert found.differences == ()
    assert found.recorded == recorded
    assert found.verdict.controls == ()


def test_an_error_that_only_mentions_the_tail_elsewhere_is_judged_afresh(tmp_path: Path) -> None:
    recorded = verdict("passed", "interrupted; rollbacks and the safety net ran", claims(0.0, 3.0))
    found = rejudge(folder(tmp_path, 0, steady(3.0), recorded))  # not an error: the tail means nothing here
    assert (found.verdict.status, found.verdict.reason) == ("passed", "all 5 claims held")


def test_an_aborted_run_stays_aborted_with_its_reason(tmp_path: Path) -> None:
    reason = "aborted: stop condition 'errors' tripped 3.0 s into the fault (...); the rollbacks ran"
    recorded = Verdict(**{**verdict("aborted", reason, claims(0.0, 3.0)).__dict__,
                          "abort": Abort("errors", measured=0.4)})
    found = rejudge(folder(tmp_path, 0, steady(3.0), recorded))
    assert (found.verdict.status, found.verdict.reason) == ("aborted", reason)
    assert found.differences == ()


def test_the_experiment_file_of_the_run_wins_over_the_journals_copy(tmp_path: Path) -> None:
    run = folder(tmp_path, 0, steady(3.0), verdict("passed", "all 5 claims held", claims(0.0, 3.0)))
    recorded = json.loads((run / "journal.json").read_text())
    recorded["experiment"] = {"title": "t", "extensions": [{"name": "devsim", "claims": []}]}  # an older copy
    (run / "journal.json").write_text(json.dumps(recorded))
    assert rejudge(run).differences == ()  # the five claims of experiment.json, not none


def test_a_run_without_a_journal_is_judged_from_what_it_has(tmp_path: Path) -> None:
    run = folder(tmp_path, 0, steady(3.0), verdict("passed", "all 5 claims held", claims(0.0, 3.0)))
    (run / "journal.json").unlink()
    found = rejudge(run)  # no UsageError: the verdict says what is missing
    assert found.verdict.status == "error"


def test_claims_that_appear_or_disappear_are_named(tmp_path: Path) -> None:
    extra = Claim("a claim the file no longer makes", "probe", "x", 1, "held")
    recorded = verdict("passed", "all 5 claims held", (*claims(0.0, 3.0)[:4], extra))
    found = rejudge(folder(tmp_path, 0, steady(3.0), recorded))
    assert found.differences == (  # the verdict itself is the same: five claims held
        "claim 'a claim the file no longer makes': recorded, not judged again",
        "claim 'three replicas up for Prometheus': judged again, not recorded")


def test_a_folder_with_neither_experiment_file_nor_journal_copy_says_so_in_process(tmp_path: Path) -> None:
    run = folder(tmp_path, 0, steady(3.0), verdict("passed", "all 5 claims held", claims(0.0, 3.0)))
    (run / "experiment.json").unlink()
    with pytest.raises(UsageError) as caught:
        rejudge(run)
    assert caught.value.one_line() == (f"{run} has no experiment.json: it was recorded before runs kept their "
                                       "experiment, and its journal has none, so it cannot be judged again")


def test_a_control_run_that_did_not_judge_the_claim_gives_its_own_reason(tmp_path: Path) -> None:
    under = Verdict("r0", "t", "x.yaml", "error", "the stack was not back after the rollbacks",
                    claims(0.02, 3.0, "failed")[:2], fault_window=Window(T0, T0 + 10))  # no ratio claim in it
    (tmp_path / "r0").mkdir()
    under.write(RunFiles(tmp_path / "r0"))
    recorded = Verdict(**{**verdict("error", "x", claims(0.0, 3.0)).__dict__,
                          "controls": (ControlRecord.from_dict(
                              {"name": "blind", "switches": {"LB_RETRIES": "0"}, "must_fail": [RATIO["name"]],
                               "run_id": "r0", "status": "error", "reason": "not read: the run is there"}),)})
    ratio = next(c for c in rejudge(folder(tmp_path, 0, steady(3.0), recorded)).verdict.claims
                 if c.name == RATIO["name"])
    assert ratio.power_note == "control 'blind': no verdict on the claim (the stack was not back after the rollbacks)"


RECOVERY = {"name": "error ratio at most 0.5 % after the fault", "probe": "client_error_ratio",
            "arguments": {"window": "recovery", "min_requests": 20},
            "tolerance": {"type": "range", "range": [0, 0.005]}}


def _with_recovery_claim(tmp_path: Path, recorded_claim: Claim) -> Path:
    """The passed run's folder, with a claim over the recovery window T0 + 5 .. T0 + 10 (100 of
    the 200 requests, none failed) that the run recorded as `recorded_claim`."""
    recorded = replace(verdict("passed", "all 6 claims held", (*claims(0.0, 3.0), recorded_claim)),
                       recovery_window=Window(T0 + 5, T0 + 10))
    run = folder(tmp_path, 0, steady(3.0), recorded)
    experiment = json.loads((run / "experiment.json").read_text())
    experiment["extensions"][0]["claims"].append(RECOVERY)
    (run / "experiment.json").write_text(json.dumps(experiment))
    return run


def test_a_claim_over_the_recovery_window_is_judged_again_over_the_recorded_one(tmp_path: Path) -> None:
    held = Claim(RECOVERY["name"], 'client_error_ratio({"min_requests": 20, "window": "recovery"})',
                 "between 0 and 0.005", 0.0, "held", window=(T0 + 5, T0 + 10))
    found = rejudge(_with_recovery_claim(tmp_path, held))
    assert found.differences == ()
    assert found.verdict.claims[-1].window == (T0 + 5, T0 + 10)


def test_a_recorded_error_is_named_in_the_difference(tmp_path: Path) -> None:
    missing = Claim(RECOVERY["name"], 'client_error_ratio({"min_requests": 20, "window": "recovery"})',
                    "between 0 and 0.005", None, "no evidence",
                    "no recovery window: the experiment did not get that far")
    found = rejudge(_with_recovery_claim(tmp_path, missing))
    assert found.differences == (
        f"claim {RECOVERY['name']!r}: recorded no evidence (None, no recovery window: the experiment did not get "
        "that far), judged again held (0.0)",)
