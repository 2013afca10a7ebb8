"""Edges of the judge that the mutation benchmark found unchecked: values exactly on a
boundary, the precision figures are rounded to, what a lower bound's measurement carries, and
the notes a control run without a verdict leaves. Every expected value is written by hand.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from harness.chaos import claims as claimlib
from harness.chaos.evidence import OpenEnded, applied_at
from harness.chaos.window import seconds_of
from harness.experiment import power
from harness.load import slo
from harness.load.clientlog import Follower, Span
from harness.metrics import steps
from harness.target import audit
from harness.verdict import timing
from harness.verdict.record import ClaimSpec
from tests.unit.test_no_evidence import FAULT, WINDOWS, every, log
from tests.unit.test_power_records import CLAIM, verdict
from tests.unit.test_semantics import T0
from tests.unit.test_timing import req


def test_a_private_helper_of_the_probes_module_is_no_probe() -> None:
    problems = claimlib.spec_problems({"name": "c", "probe": "_http", "tolerance": 200}, set())
    assert problems == ["claim 'c': harness.chaos.probes has no probe '_http'"]


def test_a_lower_bound_keeps_its_source_message_window_and_bound(tmp_path: Path) -> None:
    # acknowledged every 0.2 s until the write sent at T0 + 5.8 (ends T0 + 5.81), then only
    # failures until the one sent at T0 + 8 (ends T0 + 8.01): still open where the log ends.
    writes = [(t, "ack") for t in every(T0 - 5, T0 + 6, 0.2)] + [(T0 + 8, "fail")]
    spec = ClaimSpec.parse({"name": "c", "probe": "write_unavailability", "arguments": {"window": "fault"},
                            "tolerance": {"type": "range", "range": [0, 5]}})
    found = claimlib.measure(spec, WINDOWS, log(tmp_path, writes=writes))
    assert found == claimlib.Measurement(
        'write_unavailability({"window": "fault"})', kind="at least",
        message="writes were not acknowledged again before the log ended (at least 4.19 s)",
        window=(FAULT.start, FAULT.end),
        at_least=pytest.approx(4.19))


def test_figures_are_rounded_to_the_millisecond() -> None:
    assert seconds_of(Span(1.23456), "none", "open") == 1.235
    with pytest.raises(OpenEnded) as raised:
        seconds_of(Span(1.23456, open=True), "none", "open")
    assert raised.value.at_least == 1.235


def test_a_replica_count_sampled_at_the_faults_start_is_the_baseline() -> None:
    # 3 replicas sampled exactly at the start, 2 a second later: detected after 1 s.
    assert timing.drop_detection([(99.0, 3.0), (100.0, 3.0), (101.0, 2.0)], 100.0) == 1.0
    assert timing.drop_detection([(100.0, 3.0), (101.0, 2.0)], 100.0) == 1.0
    assert timing.drop_detection([(100.5, 3.0), (101.0, 2.0)], 100.0) is None  # no sample at or before the start


def test_a_gap_of_exactly_the_minimum_is_no_outage() -> None:
    rows = [req(t, 10) for t in (0.99, 1.99, 4.49)]  # successes ending at T0 + 1, 2 and 4.5 s
    assert timing.outages(rows, 1.0) == [(T0 + 2, T0 + 4.5)]  # 1.0 s is not longer than 1.0 s
    assert timing.outages(rows, 0.99) == [(T0 + 1, T0 + 2), (T0 + 2, T0 + 4.5)]


def test_a_fault_applied_at_the_actions_very_start_is_believed() -> None:
    assert applied_at({"applied_at": 100.0}, 100.0, 105.0) == 100.0
    assert applied_at({"applied_at": 105.0}, 100.0, 105.0) == 105.0
    assert applied_at({"applied_at": 99.999}, 100.0, 105.0) is None


def test_a_window_that_ends_before_it_starts_has_no_steps() -> None:
    assert steps.missing_steps([], 10.0, 8.0, 1.0) == 0
    assert steps.missing_steps([], 10.0, 10.0, 1.0) == 1  # one step: the window's instant


def test_the_audit_names_no_member_unless_told() -> None:
    assert audit.classify([], Counter()).read_from == ""


def test_a_control_run_that_never_ran_says_so() -> None:
    control = power.Control("blind", (("LB_RETRIES", "0"),), (CLAIM,))
    proved = power.assess(verdict("s", "held", 0.001, "passed"), [power.ControlRun(control, None)])
    assert proved.claims[0].power_note == "control 'blind': no verdict on the claim (it did not run)"
    refused = power.assess(verdict("s", "held", 0.001, "passed"),
                           [power.ControlRun(control, None, problem="the switch was refused")])
    assert refused.claims[0].power_note == "control 'blind': no verdict on the claim (the switch was refused)"


def test_a_control_run_with_no_figure_for_the_claim_says_nothing_was_measured() -> None:
    control = power.Control("blind", (("LB_RETRIES", "0"),), (CLAIM,))
    under = verdict("c", "no evidence", None, "failed")
    proved = power.assess(verdict("s", "held", 0.001, "passed"), [power.ControlRun(control, under)])
    assert proved.claims[0].power_note == "control 'blind': no evidence (nothing measured)"


@pytest.mark.parametrize(("top", "outcome"), [(20, "failed"), (60, "no evidence")])
def test_a_journal_claim_on_an_open_ended_probe_is_judged_against_its_tolerance(top: int, outcome: str) -> None:
    """A journal's probe that ended "at least 30 s": past a 20 s bound that is already a
    failure; under a 60 s bound the real figure may lie either side."""
    spec = ClaimSpec.parse({"name": "c", "journal": "wait", "tolerance": {"type": "range", "range": [0, top]}})
    line = ("chaoslib.exceptions.ActivityFailed: harness.chaos.evidence.OpenEnded: "
            "not ready again before the log ended (at least 30 s)")
    run = {"status": "failed", "activity": {"type": "probe", "name": "wait"}, "exception": ["Traceback", line]}
    claim = claimlib._judge_journal(spec, run, {})
    assert (claim.outcome, claim.at_least, claim.error) == (outcome, 30.0, line)


def test_a_control_that_failed_a_claim_on_a_lower_bound_shows_the_bound() -> None:
    control = power.Control("blind", (("LB_RETRIES", "0"),), (CLAIM,))
    under = verdict("c", "failed", None, "failed")
    under = replace(under, claims=(replace(under.claims[0], at_least=33.2),))
    proved = power.assess(verdict("s", "held", 0.001, "passed"), [power.ControlRun(control, under)])
    assert proved.claims[0].power_note == ("failed under control 'blind' (LB_RETRIES=0): measured at least 33.2 s, "
                                           "run c")


def test_an_error_ratio_bound_out_of_range_names_the_expression() -> None:
    with pytest.raises(slo.SloSyntaxError) as raised:
        slo.parse("error_ratio < 150%")
    assert str(raised.value) == ("bad SLO 'error_ratio < 150%': error_ratio is between 0 and 1 (0-100%); "
                                       "out of range '150%'")


def test_the_followed_log_keeps_the_last_keep_s_seconds_by_start_time(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    header = "ts_ms,name,method,status,latency_ms,success,error,item_id,ack\n"
    path.write_text(header + "".join(f"{ts},GET /x,GET,200,5,1,,,\n" for ts in (0, 1, 1001)))
    follower = Follower(path, keep_s=1)
    assert [r.ts_ms for r in follower.rows()] == [1, 1001]  # 0 is 1001 ms before the newest: dropped


def test_a_followed_log_whose_new_lines_are_all_unreadable_keeps_nothing_and_does_not_fail(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text("ts_ms,name,method,status,latency_ms,success,error,item_id,ack\nnot-a-number,GET /x,GET\n")
    assert Follower(path, keep_s=1).rows() == []
