"""No claim holds on nothing: each path where a claim once held without evidence, fed the
request log (or series) that opened it, and judged as `devsim run` judges it.

Every expected value is worked out by hand from the rows written here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from harness.chaos import claims as claimlib
from harness.chaos import probes
from harness.metrics import steps
from harness.verdict.record import Claim, ClaimSpec, Window
from tests.unit.test_semantics import T0

FAULT = Window(T0, T0 + 10)
WINDOWS: dict[str, Window | None] = {"fault": FAULT, "recovery": None, "first-action": Window(T0, T0 + 1)}
HEADER = "ts_ms,name,method,status,latency_ms,success,error,item_id,ack"


def log(tmp_path: Path, reads: list[tuple[float, bool]] = (), writes: list[tuple[float, str]] = ()) -> dict[str, Any]:
    """A request log: reads (start in seconds, success) taking 10 ms, writes (start, ack or
    fail) taking 10 ms; returns the configuration that points the probes at it."""
    lines = [HEADER]
    lines += [f"{round(t * 1000)},GET /x,GET,{200 if ok else 503},10,{int(ok)},,," for t, ok in reads]
    lines += [f"{round(t * 1000)},POST /api/items,POST,{201 if a == 'ack' else 503},10,{int(a == 'ack')},,w{n},{a}"
              for n, (t, a) in enumerate(writes)]
    path = tmp_path / "requests.csv"
    path.write_text("\n".join(lines) + "\n")
    return {"request_log": str(path)}


def judged(config: dict[str, Any], probe: str, tolerance: Any, **arguments: Any) -> Claim:
    spec = ClaimSpec.parse({"name": "c", "probe": probe, "arguments": arguments, "tolerance": tolerance})
    return claimlib.judge_measurement(spec, claimlib.measure(spec, WINDOWS, config), config)


UNDER_5_S = {"type": "range", "range": [0, 5]}


def every(start: float, end: float, step: float) -> list[float]:
    return [start + i * step for i in range(round((end - start) / step))]


# --- hole 1: no write at all in the window -----------------------------------------------------

def test_no_write_in_the_window_is_no_evidence_not_the_windows_length(tmp_path: Path) -> None:
    config = log(tmp_path, reads=[(t, True) for t in every(T0 - 5, T0 + 20, 0.1)],
                 writes=[(t, "ack") for t in every(T0 - 5, T0 - 1, 0.2)] + [(T0 + 15, "ack")])
    claim = judged(config, "write_unavailability", UNDER_5_S, window="fault")
    assert (claim.outcome, claim.error) == ("no evidence", "no write was sent in the window")


# --- hole 2: writes stop in the window and come back long after it -----------------------------

def test_a_gap_that_runs_past_the_window_is_measured_whole(tmp_path: Path) -> None:
    # acknowledged every 0.2 s until the write sent at T0 + 5.8 (ends T0 + 5.81), failed until
    # T0 + 30, acknowledged again by the write sent at T0 + 30 (ends T0 + 30.01): 24.2 s
    writes = [(t, "ack") for t in every(T0 - 5, T0 + 6, 0.2)] + [(t, "fail") for t in every(T0 + 6, T0 + 30, 1)]
    writes += [(T0 + 30, "ack"), (T0 + 31, "ack")]
    claim = judged(log(tmp_path, writes=writes), "write_unavailability", UNDER_5_S, window="fault")
    assert claim.outcome == "failed"
    assert claim.measured == pytest.approx(24.2)


def test_a_gap_with_no_acknowledgement_after_it_is_a_lower_bound(tmp_path: Path) -> None:
    before = [(t, "ack") for t in every(T0 - 5, T0 + 6, 0.2)]  # the last acknowledged write ends T0 + 5.81
    never = judged(log(tmp_path, writes=before + [(t, "fail") for t in every(T0 + 6, T0 + 40, 1)]),
                   "write_unavailability", UNDER_5_S, window="fault")
    assert never.outcome == "failed"  # at least 39.01 + 0.01 - 5.81 = 33.2 s: already past 5 s
    assert never.at_least == pytest.approx(33.2)
    short = judged(log(tmp_path, writes=[*before, (T0 + 8, "fail")]), "write_unavailability", UNDER_5_S,
                   window="fault")
    assert short.outcome == "no evidence"  # at least 10 - 5.81 = 4.19 s: could still end under 5 s
    assert short.at_least == pytest.approx(4.19)


# --- hole 3: failed writes outside the outage with no writes ------------------------------------

def test_failed_writes_outside_the_outage_need_writes_on_both_sides(tmp_path: Path) -> None:
    reads = [(t, True) for t in every(T0 - 5, T0 + 20, 0.1)]
    none = judged(log(tmp_path, reads=reads), "failed_writes_outside_outage", 0, window="first-action")
    assert (none.outcome, none.error) == ("no evidence", "no write was sent before the fault")
    never = judged(log(tmp_path, reads=reads, writes=[(T0 - 2, "ack"), (T0 + 5, "fail")]),
                   "failed_writes_outside_outage", 0, window="first-action")
    assert never.outcome == "no evidence"
    assert never.error.startswith("writes were not acknowledged again after the fault")
    both = judged(log(tmp_path, writes=[(T0 - 2, "fail"), (T0 - 1, "ack"), (T0 + 3, "ack"), (T0 + 4, "fail")]),
                  "failed_writes_outside_outage", 0, window="first-action")
    assert (both.outcome, both.measured) == ("failed", 2)  # one before the fault, one after recovery


# --- hole 4: time to recover on an empty log, or one that stops early ---------------------------

def test_time_to_recover_needs_a_log_that_covers_the_window(tmp_path: Path) -> None:
    empty = judged(log(tmp_path), "time_to_recover", {"type": "range", "range": [0, 20]}, window="fault")
    assert empty.outcome == "no evidence"
    early = judged(log(tmp_path, reads=[(t, True) for t in every(T0 - 5, T0 + 1, 0.1)]), "time_to_recover",
                   {"type": "range", "range": [0, 20]}, window="fault")
    assert (early.outcome, early.error) == ("no evidence", "the client request log does not cover the window")
    clean = judged(log(tmp_path, reads=[(t, True) for t in every(T0 - 5, T0 + 11, 0.1)]), "time_to_recover",
                   {"type": "range", "range": [0, 20]}, window="fault")
    assert (clean.outcome, clean.measured) == ("held", 0.0)


def test_a_stack_that_never_comes_back_fails_time_to_recover(tmp_path: Path) -> None:
    reads = [(t, True) for t in every(T0 - 5, T0, 0.1)] + [(t, False) for t in every(T0, T0 + 40, 0.5)]
    claim = judged(log(tmp_path, reads=reads), "time_to_recover", {"type": "range", "range": [0, 20]},
                   window="fault")
    assert claim.outcome == "failed"
    assert claim.at_least == pytest.approx(39.51)  # the last request, sent at T0 + 39.5, ended 10 ms later
    back = [*reads[:-20], (T0 + 30.2, True)]  # failures until the one sent at T0 + 29.5, then a success
    recovered = judged(log(tmp_path, reads=back), "time_to_recover", {"type": "range", "range": [0, 20]},
                       window="fault")
    assert (recovered.outcome, recovered.measured) == ("failed", 29.51)


def test_an_outage_that_never_ends_fails_instead_of_having_no_evidence(tmp_path: Path) -> None:
    reads = [(t, True) for t in every(T0 - 5, T0 + 2, 0.1)] + [(t, False) for t in every(T0 + 2, T0 + 40, 0.5)]
    claim = judged(log(tmp_path, reads=reads), "client_outage_seconds", UNDER_5_S, window="fault")
    assert claim.outcome == "failed"
    # the last success was sent at T0 + 1.9 (ends + 10 ms); the log ends at T0 + 39.51
    assert claim.at_least == pytest.approx(37.6)


# --- hole 5: NaN steps skipped by max and min --------------------------------------------------

def test_a_nan_step_is_no_evidence_wherever_it_lies() -> None:
    series = [[(T0, math.nan), (T0 + 1, 0.002), (T0 + 2, math.nan)]]
    found = steps.over_window(series, T0, T0 + 2, 1.0, "max")
    assert found == steps.OverWindow(None, 3, 2, "2 of 3 steps are NaN")
    later = steps.over_window([[(T0, 0.002), (T0 + 1, math.nan), (T0 + 2, 0.001)]], T0, T0 + 2, 1.0, "min")
    assert later.value is None


def test_steps_with_no_sample_are_no_evidence() -> None:
    # every replica gone: sum(up{job="app"}) has no value at T0 + 1 and T0 + 2
    found = steps.over_window([[(T0, 3.0), (T0 + 3, 3.0)]], T0, T0 + 3, 1.0, "min")
    assert found == steps.OverWindow(None, 4, 2, "2 of 4 steps have no sample")
    assert steps.over_window([], T0, T0 + 3, 1.0, "min").why == "4 of 4 steps have no sample"
    whole = steps.over_window([[(T0 + 0.0004, 3.0), (T0 + 1.0004, 2.0), (T0 + 2.0004, 3.0)]], T0, T0 + 2.9, 1.0,
                              "min")
    assert whole == steps.OverWindow(2.0, 3, 0)  # Prometheus's rounding at the edges is not a missing step


def test_the_probe_says_no_evidence_for_a_nan_step(monkeypatch: pytest.MonkeyPatch) -> None:
    class Series:
        def matrix(self, query: str, start: float, end: float, step: float) -> list[list[tuple[float, float]]]:
            return [[(start, math.nan), (start + 1, 0.002)]]

    monkeypatch.setattr(probes, "_prometheus", lambda configuration: Series())
    claim = judged({}, "prometheus_over_window", {"type": "range", "range": [0, 0.01]},
                   query="x", aggregate="max", window=[T0, T0 + 1])
    assert claim.outcome == "no evidence"
    assert claim.error == f"'x' between {T0:.0f} and {T0 + 1:.0f}: 1 of 2 steps are NaN"


# --- a ratio over too few requests ------------------------------------------------------------

def test_one_request_is_not_enough_for_an_error_ratio(tmp_path: Path) -> None:
    claim = judged(log(tmp_path, reads=[(T0 + 1, True)]), "client_error_ratio", {"type": "range", "range": [0, 0.005]},
                   window="fault")
    assert (claim.outcome, claim.error) == (
        "no evidence", "1 client requests in the window; the figure needs at least 200")
    enough = judged(log(tmp_path, reads=[(t, True) for t in every(T0, T0 + 10, 0.05)]), "client_error_ratio",
                    {"type": "range", "range": [0, 0.005]}, window="fault")
    assert (enough.outcome, enough.measured) == ("held", 0.0)


# --- a lower bound against each kind of tolerance -----------------------------------------------

@pytest.mark.parametrize(("tolerance", "bound", "outcome"), [
    ({"type": "range", "range": [0, 5]}, 5.01, "failed"), ({"type": "range", "range": [0, 5]}, 5.0, "no evidence"),
    (5, 5.5, "failed"), (5, 4.0, "no evidence"), ({"type": "regex", "pattern": "x"}, 100.0, "no evidence"),
    ({"type": "range", "range": [0, 5]}, None, "no evidence"),
])
def test_a_lower_bound_fails_only_above_every_allowed_value(tolerance: Any, bound: float | None,
                                                             outcome: str) -> None:
    assert claimlib.bound_outcome(tolerance, bound) == outcome


# --- a stack that never comes back after the rollbacks ------------------------------------------

def test_a_stack_that_is_not_back_after_the_rollbacks_fails_the_run() -> None:
    from harness.verdict import judge
    from tests.unit.test_semantics import journal

    held = [Claim("a", "s", 1, 1, "held")]
    back = claimlib.not_back("app 1/3 after 300 s", 300)
    assert (back.outcome, back.measured, back.expected) == ("failed", "app 1/3 after 300 s", "within 300 s")
    assert judge.status(journal(), [*held, back], "") == (
        "failed", "claim 'the stack is back in its steady state after the rollbacks' failed: expected within 300 s, "
                  'measured "app 1/3 after 300 s"')


# --- the recovery point: a LOST write with no time is not a pass ------------------------------

@pytest.mark.parametrize(("audit", "outcome", "measured"), [
    ({"lost": 0, "acknowledged": 10, "lost_first_ack": None}, "held", 0.0),
    ({"lost": 2, "acknowledged": 10, "lost_first_ack": T0 - 30}, "held", 30.0),
    ({"lost": 2, "acknowledged": 10, "lost_first_ack": T0 - 90}, "failed", 90.0),
    ({"lost": 2, "acknowledged": 10, "lost_first_ack": None}, "no evidence", None),  # once held: 0 s
    ({"lost": 0, "acknowledged": 0, "lost_first_ack": None}, "no evidence", None),
    ({"error": "the write audit could not run: Patroni not answering"}, "error", None),
])
def test_the_recovery_point_needs_an_audit_that_says_when(tmp_path: Path, audit: dict[str, Any], outcome: str,
                                                           measured: float | None) -> None:
    config = log(tmp_path, writes=[(T0 - 1, "ack")])
    (tmp_path / "audit.json").write_text(json.dumps(audit))
    claim = judged(config, "lost_write_age", {"type": "range", "range": [0, 75]}, window="first-action")
    assert (claim.outcome, claim.measured) == (outcome, measured)


def test_a_named_figure_counts_only_requests_of_that_name(tmp_path: Path) -> None:
    rows = [f"{round((T0 + i * 0.1) * 1000)},GET /fast,GET,200,10,1,,," for i in range(40)]
    rows += [f"{round((T0 + i * 0.1) * 1000)},GET /slow,GET,200,900,1,,," for i in range(30)]
    (tmp_path / "requests.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    config = {"request_log": str(tmp_path / "requests.csv")}
    fast = judged(config, "client_latency_ms", {"type": "range", "range": [0, 100]}, window="fault", name="GET /fast")
    assert (fast.outcome, fast.measured) == ("held", 10.0)
    slow = judged(config, "client_latency_ms", {"type": "range", "range": [0, 100]}, window="fault", name="GET /slow")
    assert (slow.outcome, slow.measured) == ("failed", 900.0)
    few = judged(config, "client_latency_ms", {"type": "range", "range": [0, 100]}, window="fault", name="GET /slow",
                 min_requests=31)
    assert (few.outcome, few.error) == ("no evidence", "30 client requests named 'GET /slow' in the window; the "
                                        "figure needs at least 31")


def test_missing_steps_count_in_steps_of_the_query() -> None:
    # a 2 s step over [0, 10]: 0, 2, ..., 10 (six steps)
    assert steps.missing_steps([], T0, T0 + 10, 2.0) == 6
    assert steps.missing_steps([], T0 + 1, T0, 2.0) == 0  # an empty window has no step
    assert steps.missing_steps([T0, T0 + 2, T0 + 6, T0 + 8, T0 + 10], T0, T0 + 10, 2.0) == 1  # 4 is missing
    assert steps.missing_steps([T0 + 2, T0 + 4, T0 + 6, T0 + 8, T0 + 10], T0, T0 + 10, 2.0) == 0  # one step's slack
    # 0, 2 and 10 have no point; one step of slack at each edge (Prometheus's rounding) leaves one
    assert steps.missing_steps([T0 + 4, T0 + 6, T0 + 8], T0, T0 + 10, 2.0) == 1
    assert steps.missing_steps([T0, T0 + 10], T0, T0 + 10, 2.0) == 4
