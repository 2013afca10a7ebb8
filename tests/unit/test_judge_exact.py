"""The judge's smaller parts with every expected value written out: verdict reasons word for
word, the record's file format, SLO messages, and the request log read back exactly."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from harness.load import clientlog, slo
from harness.runs import RunFiles
from harness.verdict import judge, record
from harness.verdict.record import Claim, ClaimSpec, Verdict, Window
from tests.unit.test_semantics import T0, activity, journal

# --- the verdict's reason, word for word -------------------------------------------------------


def test_reasons_word_for_word() -> None:
    assert judge.status({}, [], "") == ("error", "the experiment did not run")
    failed = journal(run=[activity("look", "probe", T0 - 1, T0, status="failed"),
                          activity("kill", "action", T0, T0 + 1, status="failed")])
    assert judge.status(failed, [], "") == ("error", "action 'kill' failed: ?")
    claims = [Claim("a", "s", 1, {"x": Window(1, 2)}, "failed")]
    assert judge.status(journal(), claims, "") == (
        "failed", "claim 'a' failed: expected 1, measured {\"x\": \"Window(start=1, end=2)\"}")
    held = [Claim("a", "s", 1, 1, "held"), Claim("b", "s", 1, 1, "held")]
    assert judge.status(journal(), held, "") == ("passed", "all 2 claims held")
    broken = [Claim("a", "s", 1, 1, "held"), Claim("b", "s", "x", None, "error", "boom")]
    assert judge.status(journal(), broken, "") == ("error", "claim 'b' could not be judged: expected x, measured boom")
    assert judge.status({"run": [], "rollbacks": [], "steady_states": {}}, held, "") == ("passed", "all 2 claims held")


def test_a_probe_that_did_not_succeed_in_the_method_is_not_a_failed_action() -> None:
    recorded = journal(run=[activity("kill", "action", T0, T0 + 1),
                            activity("look", "probe", T0 + 1, T0 + 2, status="failed")])
    assert judge.status(recorded, [Claim("a", "s", 1, 1, "held")], "")[0] == "passed"


# --- the record --------------------------------------------------------------------------------

def test_the_verdict_file_is_indented_json_with_a_final_newline(tmp_path: Path) -> None:
    verdict = Verdict("r", "t", "f", "passed", "ok", (Claim("a", "s", 1, complex(1, 2), "held"),),
                      fault_window=Window(1.0, 2.0))
    verdict.write(RunFiles(tmp_path))
    text = (tmp_path / "verdict.json").read_text()
    assert text.endswith("}\n")
    assert text.startswith('{\n  "run_id": "r",\n  "experiment": "t",')
    data = json.loads(text)
    assert data["claims"][0]["measured"] == "(1+2j)"  # written with str() when not JSON
    assert set(data["fault_window"]) == {"start", "end", "seconds", "start_iso", "end_iso"}
    assert datetime.fromisoformat(data["fault_window"]["start_iso"]).timestamp() == 1.0  # local time, same instant
    assert data["recovery_window"] is None
    assert data["audit"] is None
    assert data["claims"][0]["window"] is None


def test_a_sparse_verdict_reads_back_with_defaults() -> None:
    verdict = Verdict.from_dict({"run_id": "r", "status": "error", "claims": [{"outcome": "held"}]})
    assert verdict == Verdict("r", "", "", "error", "", (Claim("?", "", None, None, "held"),))
    assert (verdict.started, verdict.ended, verdict.audit) == (0.0, 0.0, None)
    assert Window.from_dict(None) is None
    assert Window(1.0, 3.5).seconds == 2.5


def test_run_files_are_named_in_one_place(tmp_path: Path) -> None:
    files = RunFiles(tmp_path)
    assert [p.name for p in (files.verdict, files.journal, files.request_log, files.server_series, files.summary,
                             files.audit)] == ["verdict.json", "journal.json", "requests.csv", "server_series.json",
                                               "summary.json", "audit.json"]
    assert files.verdict.parent == tmp_path


def test_the_extension_is_found_by_name_only() -> None:
    exp: dict[str, Any] = {"extensions": [
        "text", {"name": "other", "claims": [1]},
        {"name": "devsim", "claims": [{"name": "a"}], "report": {"series": [
            {"title": "t", "query": "up"}, "junk", {"title": "", "query": "q"}, {"query": 3}]}}]}
    assert record.raw_claims(exp) == [{"name": "a"}]
    assert record.report_series(exp) == [{"title": "t", "query": "up"}, {"title": "", "query": "q"}, {"query": 3}]
    assert record.series_problems(exp) == ["report series #2 needs title", "report series #3 needs title and query"]
    assert record.raw_claims({}) == []
    assert record.raw_claims({"extensions": [{"name": "devsim"}]}) == []
    assert record.report_series({"extensions": [{"name": "devsim", "report": {}}]}) == []
    assert record.extension({"extensions": None}) == {}


def test_a_claim_written_and_read_keeps_every_field() -> None:
    claim = Claim("n", "s", "e", 1.5, "failed", "err", "rto", (1.0, 2.0), 3.0, "shown", "failed under control 'c'")
    data = claim.as_dict()
    assert data == {"name": "n", "source": "s", "expected": "e", "measured": 1.5, "outcome": "failed",
                    "error": "err", "figure": "rto", "window": [1.0, 2.0], "at_least": 3.0, "passed": False,
                    "power": "shown", "power_note": "failed under control 'c'"}
    assert Claim.from_dict(data) == claim
    assert ClaimSpec.parse({"name": "n", "tolerance": 1, "probe": None, "field": None}).probe == ""


# --- SLOs -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("p96<1s", "bad SLO 'p96<1s': unknown metric 'p96'"),
    ("p95 ~ 1s", "bad SLO 'p95 ~ 1s': expected an operator, got '~ 1s'"),
    ("p95 ~ 123456789012", "bad SLO 'p95 ~ 123456789012': expected an operator, got '~ 12345678'"),
    ("p95", "bad SLO 'p95': expected an operator, got 'end of text'"),
    ("p95<", "bad SLO 'p95<': expected a number, got 'end of text'"),
    ("p95<abcdefghijklm", "bad SLO 'p95<abcdefghijklm': expected a number, got 'abcdefghij'"),
    ("p95<1min", "bad SLO 'p95<1min': p95 takes 'ms', 's'; bad unit 'min'"),
    ("rps>=100ms", "bad SLO 'rps>=100ms': rps takes no unit; bad unit 'ms'"),
    ("error_ratio<1s", "bad SLO 'error_ratio<1s': error_ratio takes '%'; bad unit 's'"),
    ("<1s", "bad SLO '<1s': expected a metric, got '<'"),
    ("", "bad SLO '': expected a metric, got ''"),
    ("p95<1s x", "bad SLO 'p95<1s x': unexpected text 's x'"),
])
def test_slo_errors_word_for_word(text: str, message: str) -> None:
    with pytest.raises(slo.SloSyntaxError) as info:
        slo.parse(text)
    assert info.value.message == message
    assert info.value.expression == text


@pytest.mark.parametrize(("text", "expected"), [
    (" p95 <= 2.5s ", slo.Slo("p95 <= 2.5s", "p95", "<=", 2500.0)),
    ("error_ratio<0.5%", slo.Slo("error_ratio<0.5%", "error_ratio", "<", 0.005)),
    ("error_ratio<0.01", slo.Slo("error_ratio<0.01", "error_ratio", "<", 0.01)),
    ("rps>=10", slo.Slo("rps>=10", "rps", ">=", 10.0)),
    ("max!=.5e1ms", slo.Slo("max!=.5e1ms", "max", "!=", 5.0)),
    ("failures==0", slo.Slo("failures==0", "failures", "==", 0.0)),
])
def test_slos_parse_to_exact_thresholds(text: str, expected: slo.Slo) -> None:
    assert slo.parse(text) == expected


@pytest.mark.parametrize(("metric", "value", "shown"), [
    ("p95", math.nan, "n/a"), ("p95", 12.5, "12.5 ms"), ("max", 1000.0, "1000 ms"),
    ("error_ratio", 0.012345, "1.2345%"), ("rps", 12.345, "12.3/s"), ("failures", 3.0, "3"),
])
def test_figures_are_shown_as_people_read_them(metric: str, value: float, shown: str) -> None:
    assert slo.describe(metric, value) == shown


# --- the request log ----------------------------------------------------------------------------

def test_the_request_log_reads_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    long_error = "x" * 250
    path.write_bytes((
        "ts_ms,name,method,status,latency_ms,success,error,item_id,ack\r\n"
        "3000,GET /b,GET,200,12.5,1,,,\r\n"
        "1000,POST /api/items,POST,,,0,\"  refused\r\nby the pool  \",item-1,fail\r\n"
        "oops,GET /c,GET,200,1,1,,,\r\n"
        f"2000,GET /a,GET,503,7,0,{long_error},,\r\n"
    ).encode())
    rows = clientlog.read(path)
    assert rows == [
        clientlog.Request(1000, "POST /api/items", 0, 0.0, False, "item-1", "fail", "refused\r\nby the pool"),
        clientlog.Request(2000, "GET /a", 503, 7.0, False, "", "", "x" * 200),
        clientlog.Request(3000, "GET /b", 200, 12.5, True, "", "", ""),
    ]
    short = tmp_path / "short.csv"
    short.write_text("ts_ms,name,status,latency_ms,success\n5,GET /x,201,3,1\n")  # no write columns
    assert clientlog.read(short) == [clientlog.Request(5, "GET /x", 201, 3.0, True, "", "", "")]


def test_the_longest_failure_run_ends_at_the_last_failure_end() -> None:
    rows = [clientlog.Request(1000, "x", 503, 500, False, "", ""),
            clientlog.Request(1200, "x", 503, 100, False, "", "")]
    assert clientlog.longest_failure_run_s(rows) == pytest.approx(0.5)  # 1000 -> 1500, not 1000 -> 1300


def test_percentiles_by_nearest_rank() -> None:
    assert clientlog.percentile([5.0, 1.0, 3.0], 0) == 1.0
    assert clientlog.percentile([5.0, 1.0, 3.0], 34) == 3.0
    assert clientlog.percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert clientlog.percentile([float(i) for i in range(1, 201)], 99.5) == 199.0


def write(ts: int, latency: float, ack: str) -> clientlog.Request:
    return clientlog.Request(ts, "POST /api/items", 201 if ack == "ack" else 503, latency, ack == "ack", "i", ack)


def test_write_recovery_counts_only_writes_sent_at_or_after_the_fault_was_applied() -> None:
    rows = [write(10_000, 50, "ack"), write(12_000, 30, "ack"), write(12_500, 10, "fail")]
    assert clientlog.write_recovery_ms(rows, 11.0, 12.0) == 12_030  # sent exactly when applied: counts
    assert clientlog.write_recovery_ms(rows, 11.0, 12.001) is None
    assert clientlog.write_recovery_ms([write(12_000, 30, "ack")], 12.5, 12.0) == 12_500  # never before the start


def test_failed_writes_outside_the_outage_edges() -> None:
    rows = [write(9_000, 1000, "fail"), write(9_000, 999, "fail"), write(15_000, 5, "fail"), write(14_000, 5, "fail")]
    outside = clientlog.failed_writes_outside(rows, 10.0, 14_000)
    assert [(r.ts_ms, r.latency_ms) for r in outside] == [(9_000, 999.0), (15_000, 5.0)]


def test_the_longest_write_gap_overlapping_the_window_counts_whole() -> None:
    rows = [write(9_000, 0, "ack"), write(11_000, 500, "ack"), write(13_000, 0, "ack"), write(13_500, 0, "fail"),
            write(21_000, 0, "ack"), write(12_000, 0, "fail")]
    assert clientlog.write_gap(rows, 10.0, 20.0) == clientlog.Span(8.0)  # 13.0 -> 21.0, past the window
    assert clientlog.write_gap(rows, 11.6, 12.9) == clientlog.Span(1.5)  # 11.5 -> 13.0 (a write sent at 12.0)
    assert clientlog.write_gap(rows, 12.1, 12.9) is None  # no write sent in it
    assert clientlog.write_gap(rows, 11.6, 13.0) == clientlog.Span(8.0)  # 13.0 -> 21.0 starts at its end
    assert clientlog.write_gap(rows[:4], 10.0, 20.0) == clientlog.Span(7.0, open=True)  # 13.0 -> 20.0, no ack after


def test_a_journal_missing_its_lists_is_read_as_empty() -> None:
    held = [Claim("a", "s", 1, 1, "held")]
    assert judge.status({"status": "completed"}, held, "") == ("passed", "all 1 claims held")
    assert judge.status({"run": [{"status": "failed"}], "rollbacks": [{"status": "succeeded"}]}, held, "")[0] == \
        "passed"  # a record without an activity is no failed action


def test_a_verdict_without_windows_writes_them_as_null(tmp_path: Path) -> None:
    Verdict("r", "t", "f", "error", "the experiment did not run", ()).write(RunFiles(tmp_path))
    data = json.loads((tmp_path / "verdict.json").read_text())
    assert (data["fault_window"], data["recovery_window"], data["claims"]) == (None, None, [])
