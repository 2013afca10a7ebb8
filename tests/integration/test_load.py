"""`devsim load` against the real stack: its files, its numbers, its verdicts and its errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import requests

from harness.config import Settings
from harness.deploy.guard import Guard, GuardPolicy
from harness.metrics.prometheus import Prometheus
from tests.integration.conftest import devsim, explain

pytestmark = pytest.mark.docker

FLAKY = Path(__file__).parent / "flaky_locustfile.py"


def run_dir_of(stdout: str) -> Path:
    path = Path(stdout.strip().splitlines()[-1].split(": ", 1)[1])
    return path.parent if path.name == "index.html" else path


@pytest.fixture(scope="module")
def flaky_run(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    junit = tmp_path_factory.mktemp("junit") / "junit.xml"
    done = devsim("load", "--run-time", "10s", "--users", "10", "--spawn-rate", "10", "--locustfile", str(FLAKY),
                  "--slo", "error_ratio<1", "--slo", "p95<2s", "--junit", str(junit))
    assert done.returncode == 0, explain(done)
    return run_dir_of(done.stdout), junit


def aggregated(run_dir: Path) -> dict[str, str]:
    with (run_dir / "locust_stats.csv").open() as fh:
        return next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")


def request_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "requests.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_a_run_writes_every_file(flaky_run: tuple[Path, Path]) -> None:
    run_dir, junit = flaky_run
    for name in ("locust.html", "locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv",
                 "requests.csv", "summary.json", "server_series.json", "index.html"):
        assert (run_dir / name).stat().st_size > 0, name
    suite = ET.parse(junit).getroot()
    assert [c.get("name") for c in suite.iter("testcase")] == ["error_ratio<1", "p95<2s"]


def test_summary_totals_agree_with_locusts_csv(flaky_run: tuple[Path, Path]) -> None:
    run_dir, _ = flaky_run
    summary = json.loads((run_dir / "summary.json").read_text())
    row = aggregated(run_dir)
    assert summary["status"] == "passed"
    assert summary["totals"]["requests"] == int(row["Request Count"]) > 0
    assert summary["totals"]["failures"] == int(row["Failure Count"]) > 0
    assert summary["totals"]["p95"] == float(row["95%"])


def test_request_log_has_a_row_for_every_request_and_failure(flaky_run: tuple[Path, Path]) -> None:
    run_dir, _ = flaky_run
    rows = request_rows(run_dir)
    row = aggregated(run_dir)
    assert len(rows) == int(row["Request Count"])
    failures = [r for r in rows if r["success"] == "0"]
    assert len(failures) == int(row["Failure Count"])
    assert {r["name"] for r in failures} == {"GET /api/items/never-written"}
    assert all(r["status"] == "404" and r["error"] for r in failures)


def test_writes_record_their_item_id_and_acknowledgement(stack: Settings, flaky_run: tuple[Path, Path]) -> None:
    run_dir, _ = flaky_run
    writes = [r for r in request_rows(run_dir) if r["name"] == "POST /api/items"]
    assert writes
    assert all(r["item_id"] for r in writes)
    assert {r["ack"] for r in writes} == {"ack"}
    assert all(r["status"] == "201" for r in writes)
    stamps = [int(r["ts_ms"]) for r in request_rows(run_dir)]
    assert stamps == sorted(stamps)


def test_client_outcomes_reach_prometheus(stack: Settings, flaky_run: tuple[Path, Path]) -> None:
    run_dir, _ = flaky_run
    summary = json.loads((run_dir / "summary.json").read_text())
    prometheus = Prometheus(stack.prometheus_url)
    selector = f'devsim_client_requests_total{{run_id="{summary["run_id"]}"}}'
    deadline = time.monotonic() + 15
    while True:  # the last push reaches Prometheus on its next scrape
        by_result = {s.labels["result"]: s.value for s in prometheus.vector(f"sum by (result) ({selector})")}
        total = sum(by_result.values())
        if total >= summary["totals"]["requests"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert total == pytest.approx(summary["totals"]["requests"], rel=0.03)
    assert by_result.get("failure", 0) == pytest.approx(summary["totals"]["failures"], rel=0.03)
    histogram = prometheus.vector(
        f'sum(devsim_client_request_duration_seconds_count{{run_id="{summary["run_id"]}"}})')
    assert histogram[0].value == pytest.approx(total)


def test_a_breached_slo_exits_1(stack: Settings, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    done = devsim("load", "--run-time", "5s", "--users", "5", "--slo", "p50<0.001ms", "--junit", str(junit))
    assert done.returncode == 1, explain(done)
    assert "BREACHED" in done.stdout
    summary = json.loads((run_dir_of(done.stdout) / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["slos"][0]["passed"] is False
    assert summary["slos"][0]["measured"] > 0.001
    assert ET.parse(junit).getroot().get("failures") == "1"


def test_a_shape_from_a_table_runs_its_phases_and_judges_slos_per_phase_and_name(stack: Settings,
                                                                                 tmp_path: Path) -> None:
    """A user's table: 2 users, then 8, then 2. The shape's log has the three phases in order;
    each request falls in one; a phase's SLO is judged on its requests only (an impossible p50
    in one phase fails, while the run's own SLOs pass)."""
    table = tmp_path / "shape.txt"
    table.write_text("# a small spike\n6s 2 2 base\n6s 8 8 spike\n6s 2 8 recovery\n")
    narrow_slo = 'p50{phase="recovery",name="GET /api/items/:id"}<0.001ms'
    done = devsim("load", "--shape-file", str(table), "--json", "--slo", "error_ratio<0.05",
                  "--slo", 'requests{phase="spike"}>0', "--slo", narrow_slo)
    assert done.returncode == 1, explain(done)
    summary = json.loads(done.stdout)
    run_dir = Path(summary["run_dir"])
    marks = [line.split(",") for line in (run_dir / "shape.csv").read_text().splitlines()]
    assert [m[1:] for m in marks] == [["base", "2"], ["spike", "8"], ["recovery", "2"]]
    starts = [float(m[0]) for m in marks]
    assert 5 < starts[1] - starts[0] < 8, starts
    assert 5 < starts[2] - starts[1] < 8, starts
    verdicts = {s["expression"]: s for s in summary["slos"]}
    assert verdicts["error_ratio<0.05"]["passed"] is True
    assert verdicts['requests{phase="spike"}>0']["passed"] is True
    narrow = verdicts[narrow_slo]
    assert narrow["passed"] is False
    assert narrow["measured"] > 0.001  # measured (reads in the recovery phase), not "no request matched"
    assert summary["status"] == "failed"


def test_distributed_mode_writes_the_same_files(stack: Settings) -> None:
    done = devsim("load", "--run-time", "6s", "--users", "6", "--workers", "2", "--slo", "error_ratio<0.05")
    assert done.returncode == 0, explain(done)
    run_dir = run_dir_of(done.stdout)
    assert len(request_rows(run_dir)) == int(aggregated(run_dir)["Request Count"]) > 0
    assert not list(run_dir.glob("requests.csv.worker-*"))


def load_runs(settings: Settings) -> set[Path]:
    """The folders of `devsim load` runs (`<stamp>-load`): what this test owns in a reports
    folder other runs may write to at the same time."""
    return set(settings.reports_dir.glob("*-load*")) if settings.reports_dir.exists() else set()


def test_bad_slo_is_refused_before_any_load(settings: Settings) -> None:
    before = load_runs(settings)
    done = devsim("load", "--run-time", "5s", "--slo", "p95<fast")
    assert done.returncode == 2, explain(done)
    line = done.stderr.strip().splitlines()[0]
    assert line.startswith("devsim: error: bad SLO 'p95<fast': expected a number, got 'fast'")
    assert 'SLO := METRIC [{name="...", phase="..."}] OP NUMBER [UNIT]' in line  # scoped SLOs (#33)
    assert load_runs(settings) == before


def test_a_target_that_does_not_answer_is_reported_before_any_load(settings: Settings) -> None:
    done = devsim("load", "--run-time", "5s", env={"DEVSIM_LB_TLS_PORT": "18089"})
    assert done.returncode == 2, explain(done)
    assert done.stderr.strip() == ("devsim: error: the target https://127.0.0.1:18089 cannot be reached: "
                                   "127.0.0.1:18089 refused the connection (nothing listens there) "
                                   "(is the stack up? run `devsim up`)")


def _wait_for(prometheus: Prometheus, query: str, value: float, seconds: float = 15) -> list[float]:
    deadline = time.monotonic() + seconds
    while True:
        found = [s.value for s in prometheus.vector(query)]
        if found == [value] or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_a_push_cannot_impersonate_the_app(stack: Settings) -> None:
    """Anything that reaches the Pushgateway could push under the grouping key job/app; with
    honor_labels on, Prometheus stored it as job="app" (measured), where the alert rules and
    the deploy guard read the app's own figures."""
    group = f"{stack.pushgateway_url}/metrics/job/app/instance/forged"
    forged = ('# TYPE http_requests_total counter\n'
              'http_requests_total{route="/api/items",method="GET",status="500",version="v1"} %d\n')
    prometheus = Prometheus(stack.prometheus_url)
    seen = 'sum(http_requests_total{exported_job="app",exported_instance="forged"})'
    try:
        requests.put(group, data=forged % 0, timeout=5).raise_for_status()
        assert _wait_for(prometheus, seen, 0.0) == [0.0]  # Prometheus scraped the push
        requests.put(group, data=forged % 100_000, timeout=5).raise_for_status()
        assert _wait_for(prometheus, seen, 100_000.0) == [100_000.0]
        # the same increase over the guard's window, where the push really landed
        landed = prometheus.vector('sum(increase(http_requests_total{exported_job="app",status="500"}[10s]))')
        assert landed[0].value > 50_000
        assert prometheus.vector('http_requests_total{job="app",instance="forged"}') == []
        assert {s.labels.get("job") for s in prometheus.vector('http_requests_total{exported_job="app"}')} == {
            "pushgateway"}
        reading = Guard(prometheus, "v1", GuardPolicy()).read()
        assert reading.requests < 1_000, reading  # the app's own requests only: no load runs now
    finally:
        requests.delete(group, timeout=5)


def test_locust_options_pass_through_after_a_locust_conf(stack: Settings, tmp_path: Path) -> None:
    """A locust.conf in the current folder is read first (here: where Locust logs), and
    options after `--` win over the harness's own (here: --loglevel WARNING over INFO)."""
    custom = tmp_path / "custom.log"
    (tmp_path / "locust.conf").write_text(f"logfile = {custom}\n")
    done = subprocess.run([sys.executable, "-m", "harness.cli", "load", "--users", "2", "--run-time", "3s",
                           "--", "--loglevel", "WARNING"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, explain(done)
    assert "Locust also reads" in done.stderr
    assert custom.exists(), "the locust.conf was not read"
    assert "INFO/" not in custom.read_text()
    run_dir = run_dir_of(done.stdout)
    assert json.loads((run_dir / "summary.json").read_text())["totals"]["requests"] > 0
    refused = subprocess.run([sys.executable, "-m", "harness.cli", "load", "--", "--users", "5"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip() == ("devsim: error: Locust option --users cannot be passed through "
                                      "(devsim load's own --users sets it)")
