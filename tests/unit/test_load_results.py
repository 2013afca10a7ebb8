"""Reading Locust's files and writing ours, from a recorded run in tests/unit/data/."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.errors import UsageError
from harness.load import results
from harness.load.runner import LoadPlan, locust_argv
from harness.load.session import parse_duration
from harness.load.slo import evaluate, parse_all
from harness.runs import new_run_dir

DATA = Path(__file__).parent / "data" / "load-run"


def test_totals_come_from_the_aggregated_row() -> None:
    totals = results.read_totals(DATA / "locust_stats.csv")
    with (DATA / "locust_stats.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    per_name = [r for r in rows if r["Name"] != "Aggregated"]
    assert totals.requests == sum(int(r["Request Count"]) for r in per_name)
    assert totals.failures == sum(int(r["Failure Count"]) for r in per_name)
    assert totals.error_ratio == pytest.approx(totals.failures / totals.requests)
    assert totals.p50 <= totals.p95 <= totals.p99 <= totals.max


def test_live_line_is_the_newest_history_row() -> None:
    live = results.read_live(DATA / "locust_stats_history.csv")
    assert live is not None
    with (DATA / "locust_stats_history.csv").open() as fh:
        last = [r for r in csv.DictReader(fh) if r["Name"] == "Aggregated"][-1]
    assert live.requests == int(last["Total Request Count"])
    assert live.users == int(last["User Count"])
    assert results.read_live(DATA / "missing.csv") is None


def test_worker_logs_merge_in_time_order(tmp_path: Path) -> None:
    header = ["ts_ms", "name"]
    for n, stamps in ((1, [5, 1, 9]), (2, [2, 8])):
        with (tmp_path / f"requests.csv.worker-{n}").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows([[s, f"w{n}"] for s in stamps])
    assert results.merge_request_logs(tmp_path) == 5
    with (tmp_path / "requests.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == header
    assert [int(r[0]) for r in rows[1:]] == [1, 2, 5, 8, 9]
    assert not list(tmp_path.glob("requests.csv.worker-*"))


def test_summary_and_junit_report_each_slo(tmp_path: Path) -> None:
    totals = results.read_totals(DATA / "locust_stats.csv")
    verdicts = evaluate(parse_all(["error_ratio<1", "p50<0.001ms"]), totals.figures())
    summary = results.write_summary(tmp_path / "summary.json", "rid", totals, verdicts, {"users": 3})
    assert summary["status"] == "failed"
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert [s["passed"] for s in on_disk["slos"]] == [True, False]
    assert on_disk["totals"]["requests"] == totals.requests
    results.write_junit(tmp_path / "j" / "junit.xml", "rid", verdicts, 1.0)
    suite = ET.parse(tmp_path / "j" / "junit.xml").getroot()
    assert suite.get("tests") == "2"
    assert suite.get("failures") == "1"
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["p50<0.001ms"]


def test_run_dirs_are_never_reused(tmp_path: Path) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first, _ = new_run_dir(tmp_path, "App Crash!", now)
    second, folder = new_run_dir(tmp_path, "App Crash!", now)
    assert first == "20260102T030405Z-app-crash"
    assert second == first + "-2"
    assert folder.is_dir()


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("20s", 20), ("2m", 120), ("1h30m", 5400), ("1m5s", 65)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten", "5ms", "-3s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError, match="bad duration"):
        parse_duration(text)


def test_distributed_argv_uses_locusts_own_master_and_workers(tmp_path: Path) -> None:
    plan = LoadPlan(Path("lf.py"), "http://127.0.0.1:8080", 10, 5, 30, tmp_path, "rid", workers=2)
    master = locust_argv(plan, "master", 5557)
    worker = locust_argv(plan, "worker", 5557)
    assert "--master" in master
    assert master[master.index("--expect-workers") + 1] == "2"
    assert "--run-time" in master
    assert "--worker" in worker
    assert "--headless" not in worker
    assert worker[worker.index("--master-port") + 1] == "5557"




def test_live_line_of_an_hour_long_history_reads_only_its_tail(tmp_path: Path) -> None:
    """3600 seconds of rows (far more than the 64 KiB read): still the newest Aggregated row."""
    with (DATA / "locust_stats_history.csv").open() as fh:
        reader = csv.DictReader(fh)
        names = list(reader.fieldnames or [])
        template = next(r for r in reader if r["Name"] == "Aggregated")
    history = tmp_path / "h.csv"
    with history.open("w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=names)
        out.writeheader()
        for second in range(3600):
            out.writerow({**template, "Name": "GET /api/version", "Total Request Count": str(second)})
            out.writerow({**template, "Total Request Count": str(100 * second), "User Count": "30"})
    assert history.stat().st_size > 4 * results.LIVE_TAIL
    live = results.read_live(history)
    assert live is not None
    assert (live.requests, live.users) == (359_900, 30)
