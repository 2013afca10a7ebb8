"""Claims measured and judged, compared field by field with values written out by hand.

Each test pins every field of the Claim it expects, so that a changed source string, a lost
window or a dropped bound shows (the mutation score in benchmarks/results/ counts on it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.chaos import claims as claimlib
from harness.chaos import registry
from harness.chaos.evidence import NoEvidence, Refuted
from harness.verdict.record import Claim, ClaimSpec, Window
from tests.unit.test_semantics import T0, activity, iso, journal, write_log

WINDOWS: dict[str, Window | None] = {"fault": Window(T0, T0 + 10), "recovery": None,
                                     "first-action": Window(T0, T0 + 1)}


def spec(**fields: Any) -> ClaimSpec:
    return ClaimSpec.parse({"name": "c", "tolerance": {"type": "range", "range": [0, 5]}, **fields})


def fake_probe(monkeypatch: pytest.MonkeyPatch, outcome: Any, takes_window: bool = True) -> list[dict[str, Any]]:
    """Puts a probe named `fake` into harness.chaos.probes; returns the calls it got."""
    calls: list[dict[str, Any]] = []

    def act(**kwargs: Any) -> Any:
        calls.append(kwargs)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    if takes_window:
        def fake(window: Any = "fault", name: str = "", configuration: Any = None) -> Any:
            return act(window=window, name=name, configuration=configuration)
    else:
        def fake(configuration: Any = None) -> Any:  # type: ignore[misc]
            return act(configuration=configuration)
    monkeypatch.setitem(registry._claim_probes, "fake", fake)  # registered as @registry.claim_probe does
    return calls


def test_a_probe_value_is_judged_over_the_named_window_with_its_exact_source(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_probe(monkeypatch, 4.5)
    claim = claimlib.judge_measurement(
        s := spec(probe="fake", arguments={"window": "fault", "name": "GET /x"}),
        claimlib.measure(s, WINDOWS, {"k": "v"}), {})
    assert claim == Claim("c", 'fake({"name": "GET /x", "window": "fault"})', "between 0 and 5", 4.5, "held", "",
                          window=(T0, T0 + 10))
    assert calls == [{"window": [T0, T0 + 10], "name": "GET /x", "configuration": {"k": "v"}}]


def test_a_probe_that_takes_a_window_gets_the_fault_window_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_probe(monkeypatch, 7)
    found = claimlib.measure(spec(probe="fake"), WINDOWS, {})
    assert found == claimlib.Measurement("fake({})", value=7, window=(T0, T0 + 10))
    assert calls[0]["window"] == [T0, T0 + 10]
    claim = claimlib.judge_measurement(spec(probe="fake"), found, {})
    assert claim == Claim("c", "fake({})", "between 0 and 5", 7, "failed", "", window=(T0, T0 + 10))


def test_a_probe_without_a_window_gets_none(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_probe(monkeypatch, 0, takes_window=False)
    found = claimlib.measure(spec(probe="fake"), WINDOWS, {})
    assert found == claimlib.Measurement("fake({})", value=0)
    assert calls == [{"configuration": {}}]


def test_an_explicit_window_is_the_claims_window(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_probe(monkeypatch, 1)
    found = claimlib.measure(spec(probe="fake", arguments={"window": [T0 + 2, T0 + 3]}), WINDOWS, {})
    assert found.window == (T0 + 2, T0 + 3)
    assert calls[0]["window"] == [T0 + 2, T0 + 3]
    assert found.source == f'fake({{"window": [{T0 + 2}, {T0 + 3}]}})'
    other = claimlib.measure(spec(probe="fake", arguments={"window": "30s"}), WINDOWS, {})
    assert (other.window, calls[1]["window"]) == (None, "30s")  # resolved by the probe itself


def test_a_window_the_run_never_reached_is_no_evidence(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_probe(monkeypatch, 1)
    found = claimlib.measure(spec(probe="fake", arguments={"window": "recovery"}), WINDOWS, {})
    assert found == claimlib.Measurement('fake({"window": "recovery"})', kind="no evidence",
                                         message="no recovery window: the experiment did not get that far")
    assert calls == []
    assert claimlib.judge_measurement(spec(probe="fake"), found, {}) == Claim(
        "c", 'fake({"window": "recovery"})', "between 0 and 5", None, "no evidence",
        "no recovery window: the experiment did not get that far")


@pytest.mark.parametrize(("raised", "kind", "message", "at_least", "outcome"), [
    (NoEvidence("no client requests in the window"), "no evidence", "no client requests in the window", None,
     "no evidence"),
    (Refuted("no new leader within 30 s", at_least=31.5), "refuted", "no new leader within 30 s (at least 31.5 s)",
     31.5, "failed"),
    (RuntimeError("boom"), "error", "RuntimeError: boom", None, "error"),
])
def test_each_kind_of_probe_failure(monkeypatch: pytest.MonkeyPatch, raised: BaseException, kind: str, message: str,
                                    at_least: float | None, outcome: str) -> None:
    fake_probe(monkeypatch, raised)
    found = claimlib.measure(spec(probe="fake", arguments={"window": "first-action"}), WINDOWS, {})
    source = 'fake({"window": "first-action"})'
    assert found == claimlib.Measurement(source, kind=kind, message=message, window=(T0, T0 + 1), at_least=at_least)
    assert claimlib.judge_measurement(spec(probe="fake"), found, {}) == Claim(
        "c", source, "between 0 and 5", None, outcome, message, window=(T0, T0 + 1), at_least=at_least)


@pytest.mark.parametrize(("value", "outcome", "error"), [
    (None, "no evidence", "no value was measured"), (float("nan"), "no evidence", "no value was measured"),
    (0, "held", ""), (5, "held", ""), (5.0001, "failed", ""), (-1, "failed", ""),
])
def test_a_value_against_a_range(value: Any, outcome: str, error: str) -> None:
    found = claimlib.judge_measurement(spec(probe="fake"), claimlib.Measurement("s", value=value), {})
    assert (found.outcome, found.error) == (outcome, error)


def test_a_value_the_tolerance_cannot_compare_is_an_error() -> None:
    found = claimlib.judge_measurement(spec(probe="fake"), claimlib.Measurement("s", value={"a": 1}), {})
    assert found.outcome == "error"
    assert found.error == "the tolerance cannot judge {'a': 1}: conversion from dict to Decimal is not supported"


def at_most_configured(value: float, limit: float, configuration: dict[str, Any] | None = None) -> bool:
    """A probe tolerance (Chaos Toolkit calls it with the value) that reads the configuration."""
    return configuration is not None and value <= configuration["factor"] * limit


def test_a_probe_tolerance_sees_the_runs_configuration() -> None:
    tolerance = {"type": "probe", "name": "at-most", "provider": {
        "type": "python", "module": __name__, "func": "at_most_configured", "arguments": {"limit": 2}}}
    s = ClaimSpec.parse({"name": "c", "tolerance": tolerance, "journal": "x"})
    held = claimlib.judge_measurement(s, claimlib.Measurement("s", value=3), {"factor": 2})
    assert held.outcome == "held"
    run = activity("x", "probe", T0, T0 + 1, output=3)
    assert claimlib._judge_journal(s, run, {"factor": 2}).outcome == "held"


# --- claims on the journal ------------------------------------------------------------------

def test_journal_claims_field_by_field() -> None:
    ready = spec(journal="ready")
    assert claimlib._judge_journal(ready, activity("ready", "probe", T0, T0 + 1, output=4), {}) == Claim(
        "c", "journal: ready", "between 0 and 5", 4, "held", "")
    assert claimlib._judge_journal(ready, None, {}) == Claim(
        "c", "journal: ready", "between 0 and 5", None, "no evidence", "the activity did not run")
    failed = activity("ready", "probe", T0, T0 + 1, status="failed",
                      exception=["Traceback\n", "harness.chaos.evidence.Refuted: late (at least 61 s)\n"])
    assert claimlib._judge_journal(ready, failed, {}) == Claim(
        "c", "journal: ready", "between 0 and 5", None, "failed",
        "harness.chaos.evidence.Refuted: late (at least 61 s)", at_least=61.0)
    broken = activity("ready", "probe", T0, T0 + 1, status="failed")
    assert claimlib._judge_journal(ready, broken, {}) == Claim(
        "c", "journal: ready", "between 0 and 5", None, "error", "the activity did not succeed")
    action = activity("ready", "action", T0, T0 + 1, status="failed", exception=["x.ActivityFailed: no task\n"])
    assert claimlib._judge_journal(ready, action, {}) == Claim(
        "c", "journal: ready", "between 0 and 5", None, "no evidence", "x.ActivityFailed: no task")
    field = ClaimSpec.parse({"name": "d", "journal": "deploy", "field": "outcome", "tolerance": "rolled-back"})
    deploy = activity("deploy", "action", T0, T0 + 1, output={"outcome": "rolled-back", "reason": "guard"})
    assert claimlib._judge_journal(field, deploy, {}) == Claim(
        "d", "journal: deploy -> outcome", "rolled-back", "rolled-back", "held", "")
    not_a_mapping = activity("deploy", "action", T0, T0 + 1, output="rolled-back")
    assert claimlib._judge_journal(field, not_a_mapping, {}).outcome == "no evidence"


def test_extension_claims_keep_the_figure_and_read_the_journal_by_name(tmp_path: Path) -> None:
    recorded = journal(run=[activity("kill", "action", T0, T0 + 1),
                            activity("seconds-until-ready", "probe", T0 + 1, T0 + 8, output=7.0)])
    log = write_log(tmp_path / "r.csv", [(T0 + 0.5, True), (T0 + 20, False)])
    exp = {"extensions": [{"name": "devsim", "claims": [
        {"name": "rto", "journal": "seconds-until-ready", "figure": "rto", "tolerance": {"type": "range",
                                                                                           "range": [0, 20]}},
        {"name": "after", "probe": "client_requests", "arguments": {"window": "recovery"}, "tolerance": 1},
        {"name": "first", "probe": "client_requests", "arguments": {"window": "first-action"}, "tolerance": 1}]}]}
    found = claimlib.extension_claims(exp, recorded, Window(T0, T0 + 10), {"request_log": str(log)},
                                      recovery=Window(T0 + 15, T0 + 25))
    assert found == [
        Claim("rto", "journal: seconds-until-ready", "between 0 and 20", 7.0, "held", "", figure="rto"),
        Claim("after", 'client_requests({"window": "recovery"})', 1, 1, "held", "", window=(T0 + 15, T0 + 25)),
        Claim("first", 'client_requests({"window": "first-action"})', 1, 1, "held", "", window=(T0, T0 + 1)),
    ]


def test_hypothesis_claims_field_by_field() -> None:
    failed = {**activity("db", "probe", T0 + 10, T0 + 11, status="failed", exception=[
        "harness.chaos.evidence.Refuted: not whole (at least 90 s)\n"]), "tolerance_met": False}
    failed["activity"]["tolerance"] = True
    nameless = {"start": iso(T0 + 12), "status": "failed", "tolerance_met": False, "output": None}
    recorded = journal(after=[failed, nameless])
    recorded["steady_states"]["before"]["probes"][0]["activity"]["tolerance"] = {"type": "range", "range": [200, 299]}
    assert claimlib.hypothesis_claims(recorded) == [
        Claim("steady state before the fault: health", "steady-state hypothesis", "between 200 and 299", 200, "held"),
        Claim("steady state after the fault: db", "steady-state hypothesis", True, None, "failed",
              "harness.chaos.evidence.Refuted: not whole (at least 90 s)", at_least=90.0),
        Claim("steady state after the fault: ?", "steady-state hypothesis", None, None, "error",
              "the probe did not succeed"),
    ]
    assert claimlib.hypothesis_claims({}) == []


# --- windows ------------------------------------------------------------------------------

def test_the_fault_window_spans_every_action_to_the_after_check() -> None:
    recorded = journal(run=[
        activity("look", "probe", T0 - 3, T0 - 2),
        activity("second", "action", T0 + 2, T0 + 4),
        activity("first", "action", T0, T0 + 1),
        {"activity": {"name": "open", "type": "probe"}, "start": iso(T0 + 5), "status": "succeeded"},  # no end
        {"activity": {"name": "never", "type": "action"}, "status": "failed"},  # never started
    ])
    assert claimlib.fault_window(recorded) == Window(T0, T0 + 10)  # the after-probe starts at T0 + 10
    recorded["steady_states"]["after"]["probes"] = []
    assert claimlib.fault_window(recorded) == Window(T0, T0 + 5)  # the last start without an end counts
    assert claimlib.first_action_window(recorded) == Window(T0, T0 + 1)
    assert claimlib.fault_window(journal(run=[activity("look", "probe", T0, T0 + 1)])) is None
    assert claimlib.first_action_window(journal(run=[activity("look", "probe", T0, T0 + 1)])) is None
    assert claimlib.first_action_window({}) is None
    assert claimlib.fault_window({}) is None


def test_the_first_action_window_ignores_an_action_that_never_ended() -> None:
    recorded = journal(run=[{"activity": {"name": "early", "type": "action"}, "start": iso(T0 - 5)},
                            activity("kill", "action", T0, T0 + 1)])
    assert claimlib.first_action_window(recorded) == Window(T0, T0 + 1)


def test_the_applied_window_starts_at_the_moment_the_first_action_names() -> None:
    cut_off_then_kill = activity("kill", "action", T0, T0 + 9, output={"leader": "db1", "applied_at": T0 + 8.5})
    recorded = journal(run=[activity("look", "probe", T0 - 3, T0 - 2), cut_off_then_kill,
                            activity("later", "action", T0 + 10, T0 + 11, output={"applied_at": T0 + 10.5})])
    assert claimlib.applied_window(recorded) == Window(T0 + 8.5, T0 + 9)
    assert claimlib.first_action_window(recorded) == Window(T0, T0 + 9)
    # at either edge of the action's span it is believed
    cut_off_then_kill["output"]["applied_at"] = T0
    assert claimlib.applied_window(recorded) == Window(T0, T0 + 9)
    cut_off_then_kill["output"]["applied_at"] = T0 + 9
    assert claimlib.applied_window(recorded) == Window(T0 + 9, T0 + 9)


@pytest.mark.parametrize("output", [None, 3, {"leader": "db1"}, {"applied_at": None}, {"applied_at": True},
                                    {"applied_at": str(T0 + 1)}, {"applied_at": T0 - 0.5}, {"applied_at": T0 + 9.5}])
def test_an_applied_moment_that_is_missing_or_not_believable_is_the_action_start(output: Any) -> None:
    recorded = journal(run=[activity("kill", "action", T0, T0 + 9, output=output)])
    assert claimlib.applied_window(recorded) == Window(T0, T0 + 9)
    assert claimlib.applied_window(journal(run=[activity("look", "probe", T0, T0 + 1)])) is None
    assert claimlib.applied_window({}) is None


def test_a_claim_measures_over_the_applied_window(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_probe(monkeypatch, 2.0)
    experiment = {"extensions": [{"name": "devsim", "claims": [
        {"name": "rto", "probe": "fake", "arguments": {"window": "applied"},
         "tolerance": {"type": "range", "range": [0, 5]}}]}]}
    recorded = journal(run=[activity("kill", "action", T0, T0 + 9, output={"applied_at": T0 + 8})])
    [claim] = claimlib.extension_claims(experiment, recorded, Window(T0, T0 + 10), {})
    assert calls[0]["window"] == [T0 + 8, T0 + 9]
    assert (claim.outcome, claim.measured, claim.window) == ("held", 2.0, (T0 + 8, T0 + 9))


def test_the_recovery_window_runs_from_the_journal_end_to_the_load_end() -> None:
    assert claimlib.recovery_window(journal(), T0 + 40) == Window(T0 + 20, T0 + 40)
    assert claimlib.recovery_window({"status": "interrupted"}, T0 + 40) is None


# --- the spec ---------------------------------------------------------------------------------

def test_a_claim_spec_is_parsed_field_by_field() -> None:
    assert ClaimSpec.parse({"name": "n", "tolerance": 0, "probe": "p", "arguments": {"a": 1}, "figure": "rto"}) == \
        ClaimSpec("n", 0, probe="p", arguments={"a": 1}, figure="rto")
    assert ClaimSpec.parse({"name": "n", "tolerance": [1], "journal": "j", "field": "f"}) == \
        ClaimSpec("n", [1], journal="j", field="f")
    assert ClaimSpec.parse({"name": "n", "tolerance": None, "arguments": None}) == ClaimSpec("n", None)


@pytest.mark.parametrize(("claim_spec", "problem"), [
    ({"name": "x", "journal": "kill", "figure": "mttr", "tolerance": 0}, "claim 'x': figure must be one of rto"),
    ({"name": "x", "probe": "_client_rows", "tolerance": 0}, "claim 'x': harness.chaos.probes has no probe "
                                                             "'_client_rows'"),
    ({"name": "x", "probe": "client_requests", "tolerance": 0}, ""),
    ({"name": "x", "probe": "client_requests", "arguments": {"window": "fault"}, "tolerance": 0}, ""),
    ({"name": "x", "journal": "kill", "field": 3, "tolerance": 0},
     "claim 'x': 'field' names one key of a journal activity's output"),
    ({"name": 3, "journal": "kill", "tolerance": 0}, "a claim must be a mapping with a name"),
])
def test_claim_problems_word_for_word(claim_spec: dict[str, Any], problem: str) -> None:
    assert claimlib.spec_problems(claim_spec, {"kill"}) == ([problem] if problem else [])


def test_a_truncated_journal_without_activities_or_ends() -> None:
    # an interrupted run can leave records without an activity or an end
    recorded = {"run": [{"start": iso(T0 - 1), "end": iso(T0)}, activity("kill", "action", T0 + 2, T0 + 8),
                        activity("look", "probe", T0 + 1, T0 + 3)]}
    assert claimlib.fault_window(recorded) == Window(T0 + 2, T0 + 8)  # the latest end, not the latest start
    assert claimlib.first_action_window(recorded) == Window(T0 + 2, T0 + 8)
    failed_without_activity = {"status": "failed", "exception": ["x.ActivityFailed: gone\n"]}
    assert claimlib._judge_journal(spec(journal="x"), failed_without_activity, {}).outcome == "error"
    exp = {"extensions": [{"name": "devsim", "claims": [{"name": "c", "journal": "kill", "tolerance": None}]}]}
    found = claimlib.extension_claims(exp, {"run": [{"start": iso(T0)}, activity("kill", "action", T0, T0 + 1)]},
                                      None, {})
    assert [c.source for c in found] == ["journal: kill"]
    assert claimlib.extension_claims(exp, {}, None, {})[0].error == "the activity did not run"


def test_a_journal_value_the_tolerance_cannot_compare_keeps_the_reason() -> None:
    run = activity("ready", "probe", T0, T0 + 1, output={"a": 1})
    assert claimlib._judge_journal(spec(journal="ready"), run, {}) == Claim(
        "c", "journal: ready", "between 0 and 5", {"a": 1}, "error",
        "the tolerance cannot judge {'a': 1}: conversion from dict to Decimal is not supported")


def test_extension_claims_pass_the_configuration_to_probe_tolerances(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_probe(monkeypatch, 3)
    tolerance = {"type": "probe", "name": "at-most", "provider": {
        "type": "python", "module": __name__, "func": "at_most_configured", "arguments": {"limit": 2}}}
    exp = {"extensions": [{"name": "devsim", "claims": [
        {"name": "j", "journal": "ready", "tolerance": tolerance},
        {"name": "p", "probe": "fake", "tolerance": tolerance}]}]}
    recorded = journal(run=[activity("kill", "action", T0, T0 + 1),
                            activity("ready", "probe", T0 + 1, T0 + 2, output=3)])
    found = claimlib.extension_claims(exp, recorded, Window(T0, T0 + 10), {"factor": 2})
    assert [c.outcome for c in found] == ["held", "held"]


# --- (mutation testing found each) ----------------------------------------------------------------

def test_the_stack_not_back_claim_word_for_word() -> None:
    assert claimlib.not_back("dbrouter: 0 of 1 running", 120) == Claim(
        "the stack is back in its steady state after the rollbacks",
        "devsim run: every service healthy, the database cluster whole, the app served and scraped",
        "within 120 s", "dbrouter: 0 of 1 running", "failed")


def test_a_bool_tolerance_has_no_top_a_lower_bound_could_pass() -> None:
    assert claimlib.bound_outcome(True, 5.0) == "no evidence"
    assert claimlib.bound_outcome(3, 5.0) == "failed"


OPEN = ["Traceback (most recent call last):",
        "chaoslib.exceptions.ActivityFailed: harness.chaos.evidence.OpenEnded: still open (at least 12 s)"]


def test_a_steady_state_probe_that_ran_past_its_range_fails_with_its_bound() -> None:
    journal = {"steady_states": {"before": {"probes": [
        {"activity": {"name": "rto", "tolerance": {"type": "range", "range": [0, 10]}}, "status": "failed",
         "output": None, "exception": OPEN, "tolerance_met": False}]}}}
    [claim] = claimlib.hypothesis_claims(journal)
    assert (claim.outcome, claim.at_least, claim.expected) == ("failed", 12.0, "between 0 and 10")
    journal["steady_states"]["before"]["probes"][0]["activity"]["tolerance"] = {"type": "range", "range": [0, 20]}
    [claim] = claimlib.hypothesis_claims(journal)
    assert (claim.outcome, claim.at_least) == ("no evidence", 12.0)  # 12 s or more: it may still be under 20


def test_a_bound_is_read_only_from_refuted_and_open_ended_failures() -> None:
    no_evidence = ["chaoslib.exceptions.ActivityFailed: harness.chaos.evidence.NoEvidence: x (at least 5 s)"]
    journal = {"steady_states": {"after": {"probes": [
        {"activity": {"name": "p", "tolerance": 3}, "status": "failed", "exception": no_evidence}]}}}
    [claim] = claimlib.hypothesis_claims(journal)
    assert (claim.outcome, claim.at_least) == ("no evidence", None)


def test_the_claim_probes_are_those_that_read_only_what_the_run_recorded() -> None:
    assert set(registry.claim_probes()) == {
        "client_error_ratio", "client_failed_requests", "client_requests", "client_longest_failure_run",
        "client_latency_ms", "client_status_share", "client_outage_seconds", "prometheus_over_window",
        "time_to_detect", "time_to_recover",  # harness/chaos/probes.py
        "write_rto", "failed_writes_outside_outage", "write_unavailability", "write_audit",
        "lost_write_age"}  # harness/chaos/writes.py


def test_a_claim_on_a_live_probe_or_an_unknown_one_is_refused_with_the_reason() -> None:
    live = {"name": "c", "probe": "ready_replicas", "arguments": {"service": "app"}, "tolerance": 3}
    assert claimlib.spec_problems(live, set()) == [
        "claim 'c': ready_replicas reads the live stack when the run is judged, after the recovery; call it in "
        "the method and claim on its output (journal: <its name>)"]
    unknown = {"name": "c", "probe": "client_eror_ratio", "tolerance": 0}
    assert claimlib.spec_problems(unknown, set()) == [
        "claim 'c': harness.chaos.probes has no probe 'client_eror_ratio'"]
