"""The HTML report rendered from a recorded run (tests/unit/data/report-run: the crash experiment
with the load balancer's checks and retries off, so it has a fault window and failed requests).

Every expected figure is computed here from the run's raw files, independently of the renderer."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections import Counter
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.report import history, render
from harness.report.rundata import load

DATA = Path(__file__).parent / "data"


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def raw_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "requests.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """A reports folder holding copies of the two recorded runs."""
    for name in ("report-run", "chaos-run"):
        shutil.copytree(DATA / name, tmp_path / name)
    return tmp_path


def text_of(page: Path) -> str:
    """The page's visible text with tags removed (the embedded plotly.js and figure JSON dropped)."""
    html = page.read_text()
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    html = re.sub(r"<style.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def table(page: Path, table_id: str) -> list[list[str]]:
    html = page.read_text()
    body = re.search(rf'<table id="{table_id}">(.*?)</table>', html, flags=re.S)
    assert body, f"no table {table_id}"
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), flags=re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)
        rows.append([re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", c))).strip() for c in cells])
    return rows


def figure_of(page: Path) -> dict[str, Any]:
    """The timeline's Plotly figure as embedded in the page."""
    html = page.read_text()
    match = re.search(r'Plotly\.newPlot\(\s*"timeline",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displaylogo"', html, flags=re.S)
    assert match, "no timeline figure in the page"
    return {"data": json.loads(match.group(1)), "layout": json.loads(match.group(2))}


def test_header_claims_and_key_figures(reports: Path) -> None:
    run_dir = reports / "report-run"
    verdict = json.loads((run_dir / "verdict.json").read_text())
    page = render.publish(run_dir, reports)
    text = text_of(page)
    assert verdict["experiment"] in text
    assert verdict["status"].upper() in text
    assert verdict["reason"] in text
    assert f"duration {verdict['ended'] - verdict['started']:.1f} s" in text
    assert f"app {verdict['versions']['start']['app']}" in text
    rows = raw_rows(run_dir)
    failures = sum(r["success"] == "0" for r in rows)
    assert f"requests {len(rows)}" in text
    assert f"client error ratio {failures / len(rows) * 100:.2f} %" in text
    window = verdict["fault_window"]
    assert f"fault window {window['end'] - window['start']:.2f} s" in text
    claims = table(page, "claims")[1:]
    assert [c[0] for c in claims] == [c["name"] for c in verdict["claims"]]
    for shown, claim in zip(claims, verdict["claims"], strict=True):
        assert shown[1] == claim["source"]
        assert shown[4] == ("held" if claim["passed"] else "FAILED")
    failed = [c for c in claims if c[4] == "FAILED"]
    assert failed
    assert failed[0][3] == f"{next(c['measured'] for c in verdict['claims'] if not c['passed']):.6g}"


def test_failed_requests_grouped_with_first_and_last_times(reports: Path) -> None:
    run_dir = reports / "report-run"
    page = render.publish(run_dir, reports)
    rows = [r for r in raw_rows(run_dir) if r["success"] == "0"]
    assert rows, "the fixture must hold failed requests"
    expected: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        expected.setdefault((r["name"], r["error"] or f"status {r['status']}"), []).append(int(r["ts_ms"]))
    shown = {(row[0], row[1]): row[2:] for row in table(page, "failures")[1:]}
    assert set(shown) == set(expected)
    for key, stamps in expected.items():
        assert shown[key] == [str(len(stamps)), utc(min(stamps) / 1000), utc(max(stamps) / 1000)]


def test_events_list_every_journal_activity_with_offsets(reports: Path) -> None:
    run_dir = reports / "report-run"
    journal = json.loads((run_dir / "journal.json").read_text())
    verdict = json.loads((run_dir / "verdict.json").read_text())
    page = render.publish(run_dir, reports)
    events = table(page, "events")[1:]
    records = (journal["steady_states"]["before"]["probes"] + journal["run"]
               + journal["steady_states"]["after"]["probes"] + journal["rollbacks"])
    assert sorted(e[2] for e in events) == sorted(r["activity"]["name"] for r in records)
    kill = next(r for r in journal["run"] if r["activity"]["type"] == "action")
    start = datetime.fromisoformat(kill["start"]).timestamp()
    row = next(e for e in events if e[2] == kill["activity"]["name"])
    assert row[3] == utc(start)
    assert row[4] == f"{start - verdict['started']:.2f}"
    assert row[6] == kill["status"]


def test_timeline_shades_the_fault_window_and_marks_the_kill(reports: Path) -> None:
    run_dir = reports / "report-run"
    verdict = json.loads((run_dir / "verdict.json").read_text())
    journal = json.loads((run_dir / "journal.json").read_text())
    figure = figure_of(render.publish(run_dir, reports))
    shapes = figure["layout"]["shapes"]
    rects = {(s["x0"], s["x1"]) for s in shapes if s["type"] == "rect"}
    window = verdict["fault_window"]
    assert (utc(window["start"]), utc(window["end"])) in rects
    kill = next(r for r in journal["run"] if r["activity"]["type"] == "action")
    lines = {s["x0"] for s in shapes if s["type"] == "line"}
    assert utc(datetime.fromisoformat(kill["start"]).timestamp()) in lines
    labels = {a.get("text") for a in figure["layout"]["annotations"]}
    assert kill["activity"]["name"] in labels
    assert figure["layout"]["xaxis"]["range"] == [utc(verdict["started"]), utc(verdict["ended"])]


def test_timeline_client_rows_count_every_request(reports: Path) -> None:
    run_dir = reports / "report-run"
    figure = figure_of(render.publish(run_dir, reports))
    traces = {t["name"]: t for t in figure["data"]}
    rows = raw_rows(run_dir)
    per_second = Counter(utc(int(r["ts_ms"]) // 1000) for r in rows)
    failed_per_second = Counter(utc(int(r["ts_ms"]) // 1000) for r in rows if r["success"] == "0")
    shown = dict(zip(traces["requests/s"]["x"], traces["requests/s"]["y"], strict=True))
    assert sum(shown.values()) == len(rows)
    assert {k: v for k, v in shown.items() if v} == dict(per_second)
    failed = dict(zip(traces["failures/s"]["x"], traces["failures/s"]["y"], strict=True))
    assert {k: v for k, v in failed.items() if v} == dict(failed_per_second)


def test_timeline_server_rows_come_from_the_sampled_series(reports: Path) -> None:
    run_dir = reports / "report-run"
    sampled = json.loads((run_dir / "server_series.json").read_text())
    figure = figure_of(render.publish(run_dir, reports))
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    for spec in sampled["series"]:
        assert any(t.startswith(spec["title"]) for t in titles), spec["title"]
    ready = next(s for s in sampled["series"] if s["title"].startswith("ready app replicas"))
    points = ready["lines"][0]["points"]
    trace = next(t for t in figure["data"] if t["name"] == ready["lines"][0]["label"])
    assert trace["y"] == [v for _, v in points]
    assert min(trace["y"]) < max(trace["y"]), "the kill must show in the load balancer's view"


def test_page_is_self_contained(reports: Path) -> None:
    page = render.publish(reports / "report-run", reports)
    html = page.read_text()
    assert not re.search(r'<script[^>]+src=', html)
    assert not re.search(r'<link[^>]+href=', html)
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)
    assert not re.search(r'(src|href)="(https?:)?//', markup)
    assert "@import" not in markup
    hrefs = re.findall(r'<a href="([^"]+)"', markup)
    for href in hrefs:
        assert not href.startswith(("http:", "https:", "//")), href
        assert (page.parent / href).exists(), href


def test_index_lists_runs_newest_first_and_keeps_history(reports: Path) -> None:
    render.publish(reports / "chaos-run", reports)
    render.publish(reports / "report-run", reports)
    render.publish(reports / "report-run", reports)  # re-rendered: still one row
    stored = history.runs(reports)
    ids = [json.loads((reports / n / "verdict.json").read_text())["run_id"] for n in ("report-run", "chaos-run")]
    assert [r["run_id"] for r in stored] == ids
    page = reports / "index.html"
    rows = table(page, "runs")[1:]
    assert [r[-1] for r in rows] == [r["run_id"] for r in stored]
    verdict = json.loads((reports / "report-run" / "verdict.json").read_text())
    assert rows[0][2] == verdict["status"]
    rto = next(c["measured"] for c in verdict["claims"] if c.get("figure") == "rto")
    assert rows[0][6] == f"{rto:.2f} s"
    shutil.rmtree(reports / "chaos-run")
    render.render_index(reports)
    rows = table(page, "runs")[1:]
    assert len(rows) == 2
    assert rows[1][-1].endswith("(folder removed)")
    assert 'id="trend-0"' in page.read_text()


def test_load_run_page_shows_the_slos(tmp_path: Path) -> None:
    run_dir = tmp_path / "load-run"
    shutil.copytree(DATA / "load-run", run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    page = render.publish(run_dir, tmp_path)
    claims = table(page, "claims")[1:]
    assert [c[0] for c in claims] == [s["expression"] for s in summary["slos"]]
    assert [c[4] == "held" for c in claims] == [s["passed"] for s in summary["slos"]]
    assert "load test" in text_of(page)


def test_report_command(reports: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEVSIM_REPORTS_DIR", str(reports))
    assert main(["report", str(reports / "report-run")]) == 0
    assert (reports / "report-run" / "index.html").exists()
    assert (reports / "index.html").exists()
    assert main(["report"]) == 2
    assert main(["report", str(reports / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no such run folder" in err
    assert "Traceback" not in err
    assert load(reports / "report-run").figures.requests == len(raw_rows(reports / "report-run"))


def test_report_over_many_folders_skips_the_odd_one(reports: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEVSIM_REPORTS_DIR", str(reports))
    (reports / "not-a-run").mkdir()
    assert main(["report", str(reports / "chaos-run"), str(reports / "not-a-run"), str(reports / "report-run")]) == 0
    captured = capsys.readouterr()
    assert "skipped: " in captured.err
    assert len(history.runs(reports)) == 2


def test_pages_stay_under_one_and_a_half_megabytes(reports: Path) -> None:
    page = render.publish(reports / "report-run", reports)
    render.publish(reports / "chaos-run", reports)
    for written in (page, reports / "chaos-run" / "index.html", reports / "index.html"):
        assert written.stat().st_size <= 1_500_000, (written, written.stat().st_size)
    assert "plotly.js (basic - minified)" in page.read_text()[:50_000]


def test_the_bundled_plotly_js_is_the_version_the_figures_are_built_for() -> None:
    from plotly.offline import get_plotlyjs_version

    bundle = (Path(render.__file__).parent / "vendor" / "plotly-basic.min.js").read_text()[:200]
    assert f"plotly.js (basic - minified) v{get_plotlyjs_version()}" in bundle


def test_a_folder_without_any_start_time_is_not_recorded(reports: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A verdict.json with a run id and a status but no time anywhere used to become a run dated 1970."""
    monkeypatch.setenv("DEVSIM_REPORTS_DIR", str(reports))
    odd = reports / "odd"
    odd.mkdir()
    (odd / "verdict.json").write_text(json.dumps({"run_id": "odd-1", "status": "passed", "claims": []}))
    assert main(["report", str(odd)]) == 2
    err = capsys.readouterr().err
    assert "no start time" in err
    assert "Traceback" not in err
    assert history.runs(reports) == []


def test_a_trend_of_one_run_says_so(reports: Path) -> None:
    render.publish(reports / "report-run", reports)
    assert "one run so far: no trend yet" in (reports / "index.html").read_text()
    render.publish(reports / "chaos-run", reports)
    html = (reports / "index.html").read_text()
    verdicts = [json.loads((reports / n / "verdict.json").read_text()) for n in ("report-run", "chaos-run")]
    same_experiment = verdicts[0]["experiment"] == verdicts[1]["experiment"]
    assert ("one run so far: no trend yet" in html) != same_experiment


def test_an_hour_long_run_is_drawn_in_bins_that_keep_the_worst_second(tmp_path: Path) -> None:
    """A soak's page: 3600 s of requests (ten a second), one failure at second 1234 and one
    900 ms request at second 2000; the page stays light and neither is averaged away."""
    run_dir = tmp_path / "soak"
    shutil.copytree(DATA / "load-run", run_dir)
    (run_dir / "server_series.json").unlink()
    start_ms = 1_795_000_000_000
    with (run_dir / "requests.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(("ts_ms", "name", "method", "status", "latency_ms", "success", "error", "item_id", "ack"))
        for n in range(36_000):
            second = n // 10
            failed = second == 1234 and n % 10 == 0
            latency = 900.0 if second == 2000 and n % 10 == 0 else 4.0
            out.writerow((start_ms + n * 100, "GET /api/version", "GET", 500 if failed else 200, f"{latency:.2f}",
                          0 if failed else 1, "HTTP 500" if failed else "", "", ""))
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.update(started=start_ms / 1000, ended=start_ms / 1000 + 3600)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    page = render.publish(run_dir, tmp_path)
    assert page.stat().st_size <= 1_500_000
    figure = figure_of(page)
    traces = {t["name"]: t for t in figure["data"]}
    assert 100 < len(traces["requests/s"]["x"]) <= 900
    assert set(traces["requests/s"]["y"]) == {10}
    assert max(traces["failures/s"]["y"]) == 1
    assert max(traces["latency p99"]["y"]) == 900.0
    assert sorted(traces["latency p50"]["y"])[len(traces["latency p50"]["y"]) // 2] == 4.0


def figure_named(page: Path, div_id: str) -> dict[str, Any] | None:
    match = re.search(rf'Plotly\.newPlot\(\s*"{div_id}",\s*(\[.*?\]),\s*(\{{.*?\}}),\s*\{{"displaylogo"',
                      page.read_text(), flags=re.S)
    return {"data": json.loads(match.group(1)), "layout": json.loads(match.group(2))} if match else None


def test_a_long_run_is_drawn_in_bins_with_its_stall_kept_and_the_fault_second_by_second(tmp_path: Path) -> None:
    """Two hours of one request a second before the recorded run, with 20 s of none an hour
    in (from the middle of a bin): the timeline is binned, its lowest-second line still drops to 0 where the stall is
    (the mean does not), and the fault is drawn again a point a second."""
    run_dir = tmp_path / "long"
    shutil.copytree(DATA / "report-run", run_dir)
    lines = (run_dir / "requests.csv").read_text().splitlines(keepends=True)
    verdict = json.loads((run_dir / "verdict.json").read_text())
    fault = verdict["fault_window"]["start"]
    first = int(fault) - 7200
    stall = range(first + 3604, first + 3624)  # from the middle of a 9 s bin
    extra = [f"{(first + s) * 1000},GET /api/version,GET,200,4.00,1,,,\n" for s in range(0, 7140) if first + s not in
             stall]
    (run_dir / "requests.csv").write_text(lines[0] + "".join(extra) + "".join(lines[1:]))
    verdict["started"] = float(first)
    (run_dir / "verdict.json").write_text(json.dumps(verdict))
    page = render.publish(run_dir, tmp_path)
    timeline = figure_named(page, "timeline")
    assert timeline is not None
    traces = {t["name"]: t for t in timeline["data"]}
    width = 9  # ceil((7200 + the run's ~20 s) / 900 points)
    assert len(traces["requests/s"]["x"]) == pytest.approx(7220 / width, abs=2)
    stalled = utc(first + 3600)  # the bin (seconds 3600 to 3608) where the stall begins
    lowest = dict(zip(traces["requests/s, lowest second"]["x"], traces["requests/s, lowest second"]["y"], strict=True))
    mean = dict(zip(traces["requests/s"]["x"], traces["requests/s"]["y"], strict=True))
    assert lowest[stalled] == 0
    assert mean[stalled] > 0
    close = figure_named(page, "closeup")
    assert close is not None
    shown = {t["name"]: dict(zip(t["x"], t["y"], strict=True)) for t in close["data"]}
    rows = raw_rows(DATA / "report-run")
    per_second = Counter(utc(int(r["ts_ms"]) // 1000) for r in rows)
    failed = Counter(utc(int(r["ts_ms"]) // 1000) for r in rows if r["success"] == "0")
    assert {k: v for k, v in shown["requests/s"].items() if v} == dict(per_second)
    assert {k: v for k, v in shown["failures/s"].items() if v} == dict(failed)
    assert close["layout"]["xaxis"]["range"][0] == utc(fault - 60)
    assert page.stat().st_size <= 1_500_000
    assert "Around the fault, second by second" in text_of(page)


def test_a_short_run_has_no_close_up(reports: Path) -> None:
    page = render.publish(reports / "report-run", reports)
    assert figure_named(page, "closeup") is None
    assert "Around the fault" not in text_of(page)
