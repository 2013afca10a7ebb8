"""The verdict semantics (docs/guides/verdict-semantics.md), one test per row, on hand-built journals and request logs.

Every expected figure is written out or counted by hand here, never taken from the code
under test: a request log of 200 rows with 1 failure in the window has an error ratio of
exactly 1/200 = 0.005, and so on.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.chaos import claims as claimlib
from harness.chaos.evidence import NoEvidence, Refuted
from harness.load import slo
from harness.verdict.judge import status as _status
from harness.verdict.record import EXIT

T0 = 1_800_000_000.0  # the kill starts here; the fault window is [T0, T0 + 10]


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat()


def activity(name: str, kind: str, start: float, end: float, status: str = "succeeded", output: Any = None,
             exception: list[str] | None = None) -> dict[str, Any]:
    run: dict[str, Any] = {"activity": {"name": name, "type": kind}, "start": iso(start), "end": iso(end),
                           "status": status, "output": output}
    if exception is not None:
        run["exception"] = exception
    return run


def journal(run: list[dict[str, Any]] | None = None, rollbacks: list[dict[str, Any]] | None = None,
            before_met: bool = True, after: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    after_probes = after if after is not None else [
        {**activity("health", "probe", T0 + 10, T0 + 10.2, output=200), "tolerance_met": True}]
    return {
        "status": "completed", "end": iso(T0 + 20),
        "steady_states": {
            "before": {"steady_state_met": before_met, "probes": [
                {**activity("health", "probe", T0 - 1, T0 - 0.8, output=200 if before_met else 503),
                 "tolerance_met": before_met}]},
            "after": {"steady_state_met": all(p["tolerance_met"] for p in after_probes), "probes": after_probes}},
        "run": run if run is not None else [
            activity("kill", "action", T0, T0 + 1, output=None),
            activity("seconds-until-ready", "probe", T0 + 1, T0 + 8, output=7.0)],
        "rollbacks": rollbacks if rollbacks is not None else [activity("restore", "action", T0 + 11, T0 + 12)],
    }


def experiment(*claims: dict[str, Any]) -> dict[str, Any]:
    return {"title": "t", "extensions": [{"name": "devsim", "claims": list(claims)}]}


def write_log(path: Path, rows: list[tuple[float, bool]]) -> Path:
    """rows: (start time in seconds, success)."""
    lines = ["ts_ms,name,method,status,latency_ms,success,error,item_id,ack"]
    lines += [f"{round(t * 1000)},GET /x,GET,{200 if ok else 503},10,{int(ok)},,," for t, ok in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


RATIO = {"name": "error ratio at most 0.5 %", "probe": "client_error_ratio", "arguments": {"window": "fault"},
         "tolerance": {"type": "range", "range": [0, 0.005]}}
READY = {"name": "ready within 20 s", "journal": "seconds-until-ready",
         "tolerance": {"type": "range", "range": [0, 20]}}


def judge(recorded: dict[str, Any], exp: dict[str, Any], log: Path | None = None,
          interrupted: str = "") -> tuple[str, str, list[claimlib.Claim]]:
    window = claimlib.fault_window(recorded)
    config = {"request_log": str(log) if log else ""}
    found = claimlib.hypothesis_claims(recorded) + claimlib.extension_claims(exp, recorded, window, config)
    status, reason = _status(recorded, found, interrupted)
    return status, reason, found


def steady_log(tmp_path: Path, failures_in_window: int = 0) -> Path:
    """200 requests inside [T0, T0 + 10], the first `failures_in_window` failed."""
    rows = [(T0 + i * 0.05, i >= failures_in_window) for i in range(200)]
    return write_log(tmp_path / "requests.csv", rows)


# --- exit codes ------------------------------------------------------------------------------

def test_exit_codes_are_0_passed_1_failed_or_aborted_2_error() -> None:
    assert EXIT == {"passed": 0, "failed": 1, "error": 2, "aborted": 1}


# --- rows that make the run an error -----------------------------------------------------------

def test_a_clean_run_passes(tmp_path: Path) -> None:
    status, reason, found = judge(journal(), experiment(RATIO, READY), steady_log(tmp_path))
    assert (status, reason) == ("passed", "all 4 claims held")
    assert [c.outcome for c in found] == ["held"] * 4


def test_a_failed_action_is_an_error_even_when_every_claim_holds(tmp_path: Path) -> None:
    recorded = journal(run=[activity("kill", "action", T0, T0 + 1, status="failed",
                                     exception=["chaoslib.exceptions.ActivityFailed: no task to kill\n"]),
                            activity("seconds-until-ready", "probe", T0 + 1, T0 + 8, output=7.0)])
    status, reason, _ = judge(recorded, experiment(RATIO, READY), steady_log(tmp_path))
    assert status == "error"
    assert reason == "action 'kill' failed: chaoslib.exceptions.ActivityFailed: no task to kill"


def test_a_failed_rollback_is_an_error(tmp_path: Path) -> None:
    recorded = journal(rollbacks=[activity("restore", "action", T0 + 11, T0 + 12, status="failed", exception=["x"])])
    status, reason, _ = judge(recorded, experiment(RATIO, READY), steady_log(tmp_path))
    assert (status, reason) == ("error", "rollback 'restore' failed")


def test_an_unmet_steady_state_before_the_fault_is_an_error(tmp_path: Path) -> None:
    status, reason, _ = judge(journal(before_met=False), experiment(RATIO, READY), steady_log(tmp_path))
    assert (status, reason) == ("error", "the steady state did not hold before the fault, so nothing was tested")


def test_an_exception_in_a_claim_probe_is_an_error_not_a_failure(tmp_path: Path) -> None:
    status, reason, found = judge(journal(), experiment(RATIO, READY), tmp_path / "missing.csv")
    ratio = found[2]
    assert (ratio.outcome, ratio.measured) == ("error", None)
    assert "cannot read the client request log" in ratio.error
    assert status == "error"
    assert reason.startswith("claim 'error ratio at most 0.5 %' could not be judged: ")


def test_an_exception_in_a_steady_state_probe_is_an_error(tmp_path: Path) -> None:
    broken = {**activity("health", "probe", T0 + 10, T0 + 10.2, status="failed",
                         exception=["Traceback...\n", "chaoslib.exceptions.ActivityFailed: boom\n"]),
              "tolerance_met": False}
    status, _, found = judge(journal(after=[broken]), experiment(RATIO, READY), steady_log(tmp_path))
    assert found[1].outcome == "error"
    assert found[1].error == "chaoslib.exceptions.ActivityFailed: boom"
    assert status == "error"


def test_an_unmet_steady_state_after_the_fault_is_a_failure(tmp_path: Path) -> None:
    unmet = {**activity("health", "probe", T0 + 10, T0 + 10.2, output=503), "tolerance_met": False}
    status, reason, found = judge(journal(after=[unmet]), experiment(RATIO, READY), steady_log(tmp_path))
    assert (found[1].outcome, found[1].measured) == ("failed", 503)
    assert status == "failed"
    assert reason.startswith("claim 'steady state after the fault: health' failed")


def test_an_interrupted_run_is_an_error_whatever_the_claims(tmp_path: Path) -> None:
    status, reason, _ = judge(journal(), experiment(RATIO, READY), steady_log(tmp_path),
                              interrupted="interrupted (SIGINT)")
    assert status == "error"
    assert reason == "interrupted (SIGINT); rollbacks and the safety net ran"


def test_a_tripped_stop_condition_is_aborted_whatever_the_claims_but_an_interruption_outranks_it(
        tmp_path: Path) -> None:
    recorded = journal()
    found = judge(recorded, experiment(RATIO, READY), steady_log(tmp_path, failures_in_window=100))[2]
    assert [c.outcome for c in found].count("failed") == 1  # half the requests failed: the ratio claim
    tripped = "aborted: stop condition 'x' tripped 2.0 s into the fault"
    assert _status(recorded, found, "", tripped) == ("aborted", tripped)
    held = [claimlib.Claim("a", "s", 1, 1, "held")]
    assert _status(recorded, held, "", tripped) == ("aborted", tripped)
    assert _status(recorded, held, "interrupted (SIGINT)", tripped)[0] == "error"
    assert EXIT["aborted"] == 1


def test_no_journal_and_no_claims_are_errors() -> None:
    assert _status({}, [], "")[0] == "error"
    assert _status(journal(), [], "") == ("error", "the experiment makes no claim")


# --- evidence -------------------------------------------------------------------------------

def test_no_request_in_the_window_is_no_evidence_and_never_passes(tmp_path: Path) -> None:
    log = write_log(tmp_path / "requests.csv", [(T0 - 5, True), (T0 + 30, True)])  # both outside [T0, T0+10]
    status, reason, found = judge(journal(), experiment(RATIO, READY), log)
    assert (found[2].outcome, found[2].measured, found[2].passed) == ("no evidence", None, False)
    assert found[2].error == "no client requests in the window"
    assert status == "error"
    assert reason.startswith("claim 'error ratio at most 0.5 %' has no evidence")


def test_an_activity_that_did_not_run_is_no_evidence(tmp_path: Path) -> None:
    recorded = journal(run=[activity("kill", "action", T0, T0 + 1)])
    _, _, found = judge(recorded, experiment(RATIO, READY), steady_log(tmp_path))
    assert (found[3].outcome, found[3].error) == ("no evidence", "the activity did not run")


def test_a_probe_that_found_evidence_against_the_claim_fails_it_with_the_bound(tmp_path: Path) -> None:
    message = "harness.chaos.evidence.Refuted: app: fewer than 3 ready replicas after 60 s (at least 60.2 s)\n"
    recorded = journal(run=[activity("kill", "action", T0, T0 + 1),
                            activity("seconds-until-ready", "probe", T0 + 1, T0 + 62, status="failed",
                                     exception=[message])])
    status, reason, found = judge(recorded, experiment(RATIO, READY), steady_log(tmp_path))
    assert (found[3].outcome, found[3].at_least) == ("failed", 60.2)
    assert status == "failed"
    assert reason.startswith("claim 'ready within 20 s' failed: expected between 0 and 20")


def test_a_failed_probe_recorded_as_no_evidence_is_no_evidence(tmp_path: Path) -> None:
    recorded = journal(run=[activity("kill", "action", T0, T0 + 1),
                            activity("seconds-until-ready", "probe", T0 + 1, T0 + 2, status="failed",
                                     exception=["harness.chaos.evidence.NoEvidence: nothing\n"])])
    _, _, found = judge(recorded, experiment(RATIO, READY), steady_log(tmp_path))
    assert found[3].outcome == "no evidence"


def test_a_nan_is_no_evidence_and_a_missing_field_too(tmp_path: Path) -> None:
    recorded = journal(run=[activity("kill", "action", T0, T0 + 1),
                            activity("seconds-until-ready", "probe", T0 + 1, T0 + 8, output=math.nan),
                            activity("deploy", "probe", T0 + 8, T0 + 9, output={"outcome": "live"})])
    field = {"name": "rolled back", "journal": "deploy", "field": "reason", "tolerance": "rolled-back"}
    _, _, found = judge(recorded, experiment(READY, field), steady_log(tmp_path))
    assert [c.outcome for c in found[2:]] == ["no evidence", "no evidence"]


def test_a_failed_claim_outranks_one_without_evidence(tmp_path: Path) -> None:
    recorded = journal(run=[activity("kill", "action", T0, T0 + 1),
                            activity("seconds-until-ready", "probe", T0 + 1, T0 + 8, output=25.0)])
    log = write_log(tmp_path / "requests.csv", [(T0 + 50, True)])
    status, reason, _ = judge(recorded, experiment(RATIO, READY), log)
    assert status == "failed"
    assert "'ready within 20 s' failed" in reason


def test_the_probes_raise_the_evidence_kinds() -> None:
    assert issubclass(NoEvidence, Exception)
    assert str(Refuted("no new leader within 30 s", at_least=31.5)) == "no new leader within 30 s (at least 31.5 s)"


# --- windows and tolerances -----------------------------------------------------------------

def test_the_window_is_exactly_the_one_written_and_its_edges_count(tmp_path: Path) -> None:
    # the fault window is [T0, T0 + 10]: the journal's kill start to the after-probe's start
    rows = [(T0 - 0.001, False), (T0, False)] + [(T0 + 0.05 * i, True) for i in range(1, 199)] + \
           [(T0 + 10, True), (T0 + 10.001, False)]
    log = write_log(tmp_path / "requests.csv", rows)
    _, _, found = judge(journal(), experiment(RATIO), log)
    ratio = found[2]
    assert ratio.window == (T0, T0 + 10)
    assert ratio.measured == pytest.approx(1 / 200)  # counted by hand: 200 rows inside, 1 failed
    assert ratio.outcome == "held"  # 0.005 is inside Chaos Toolkit's closed range [0, 0.005]


def test_just_past_the_tolerance_fails_with_the_measured_value(tmp_path: Path) -> None:
    _, reason, found = judge(journal(), experiment(RATIO), steady_log(tmp_path, failures_in_window=2))
    assert found[2].measured == pytest.approx(2 / 200)
    assert found[2].outcome == "failed"
    assert reason == "claim 'error ratio at most 0.5 %' failed: expected between 0 and 0.005, measured 0.01"


def test_failures_outside_the_window_do_not_count(tmp_path: Path) -> None:
    rows = [(T0 - 1 + i * 0.01, False) for i in range(50)] + [(T0 + i * 0.05, i != 7) for i in range(200)] + \
           [(T0 + 12 + i * 0.01, False) for i in range(50)]
    _, _, found = judge(journal(), experiment(RATIO), write_log(tmp_path / "requests.csv", rows))
    assert found[2].measured == pytest.approx(1 / 200)


@pytest.mark.parametrize(("expression", "measured", "held"), [
    ("p95<500ms", 499.999, True), ("p95<500ms", 500.0, False), ("p95<=500ms", 500.0, True),
    ("p95<=500ms", 500.001, False), ("rps>10", 10.0, False), ("rps>=10", 10.0, True), ("failures==0", 0.0, True),
    ("failures==0", 1.0, False), ("failures!=0", 0.0, False), ("error_ratio<1%", 0.01, False),
    ("error_ratio<1%", 0.0099, True), ("p99<1s", 999.0, True), ("p99<1s", 1000.0, False),
])
def test_slo_operators_compare_exactly_as_written(expression: str, measured: float, held: bool) -> None:
    (result,) = slo.evaluate(slo.parse_all([expression]), {expression.split("<")[0].split(">")[0].split("=")[0]
                                                           .split("!")[0]: measured})
    assert result.passed is held


def test_a_signal_during_the_safety_net_waits_until_it_is_done() -> None:
    import os
    import signal

    from harness.progress import Progress
    from harness.signals import signals_deferred

    finished = []
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN in a background job
    with signals_deferred(Progress(quiet=True), "the safety net") as got:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        finished.append("undone")  # reached: neither signal cut the block short
    assert finished == ["undone"]
    assert got == ["SIGINT", "SIGTERM"]
    assert signal.getsignal(signal.SIGINT) is before  # put back afterwards


def test_a_probe_failure_as_chaos_toolkit_records_it_is_told_apart() -> None:
    """Chaos Toolkit's Python provider wraps what a probe raises in its own ActivityFailed: the
    journal's last line names both (seen in a run of the failover's negative control)."""
    import traceback

    from chaoslib.exceptions import ActivityFailed

    from harness.chaos.evidence import kind_of

    def recorded(raised: Exception) -> list[str]:
        wrapped = ActivityFailed(traceback.format_exception_only(type(raised), raised)[0].strip())
        return traceback.format_exception(type(wrapped), wrapped, None)

    refuted = recorded(Refuted("no new leader within 60 s", at_least=61.19))
    assert refuted[-1] == ("chaoslib.exceptions.ActivityFailed: harness.chaos.evidence.Refuted: no new leader "
                           "within 60 s (at least 61.19 s)\n")
    assert kind_of(refuted) == "refuted"
    assert kind_of(recorded(NoEvidence("nothing"))) == "no evidence"
    assert kind_of(recorded(RuntimeError("boom"))) == "error"
    assert kind_of(["chaoslib.exceptions.ActivityFailed: no task to kill\n"]) == "error"
    assert kind_of(None) == "error"
    assert kind_of(["ValueError: harness.chaos.evidence.Refuted: quoted, not raised\n"]) == "error"
    run = activity("seconds-until-ready", "probe", T0 + 1, T0 + 62, status="failed", exception=refuted)
    claim = claimlib._judge_journal(claimlib.ClaimSpec.parse(READY), run, {})
    assert (claim.outcome, claim.at_least) == ("failed", 61.19)


def test_a_refutation_keeps_its_bound_only_when_it_has_one() -> None:
    from harness.chaos.evidence import at_least

    plain = Refuted("no write was acknowledged")
    assert (str(plain), plain.at_least) == ("no write was acknowledged", None)
    bounded = Refuted("late", at_least=2.5)
    assert (str(bounded), bounded.at_least) == ("late (at least 2.5 s)", 2.5)
    assert at_least("late (at least 2.5 s)") == 2.5
    assert at_least("late") is None
