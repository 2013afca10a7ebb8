"""A rendered report opened from disk in headless Chromium (Debian's `chromium` package):
no console or script errors, every chart drawn with all its rows, and a screenshot saved."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from harness.report import charts, render
from harness.report.rundata import load

pytestmark = pytest.mark.browser

DATA = Path(__file__).parents[1] / "unit" / "data"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=15000",
         "--enable-logging=stderr", "--v=0"]


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert Path(CHROMIUM).exists(), "chromium is not installed; scripts/setup.sh installs it"
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=120, check=False)


def console_errors(stderr: str) -> list[str]:
    """Messages the page wrote to its console (Chromium logs them as CONSOLE lines)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def js_errors(dom: str) -> int:
    """What the page's own error listener counted (it marks the <html> element)."""
    mark = re.search(r'<html[^>]*data-js-errors="(\d+)"', dom)
    return int(mark.group(1)) if mark else 0


def charts_in(dom: str) -> dict[str, tuple[int, int, int]]:
    """For each chart container: (rows it declares, subplots drawn, traces drawn)."""
    found = {}
    pieces = re.split(r'<div class="chart" data-rows="(\d+)">', dom)[1:]
    for rows, body in zip(pieces[::2], pieces[1::2], strict=True):
        div = re.search(r'id="([\w-]+)"', body)
        assert div
        found[div.group(1)] = (int(rows), len(re.findall(r'<g class="subplot ', body)),
                               len(re.findall(r'<g class="trace scatter', body)))
    return found


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return int(width), int(height)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reports = tmp_path_factory.mktemp("reports")
    for name in ("chaos-run", "report-run", "load-run"):
        shutil.copytree(DATA / name, reports / name)
        render.publish(reports / name, reports)
    return reports


@pytest.mark.parametrize("name", ["report-run", "load-run"])
def test_run_page_draws_every_row_without_errors(rendered: Path, name: str) -> None:
    page = rendered / name / "index.html"
    done = chromium("--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert console_errors(done.stderr) == []
    assert js_errors(dom) == 0
    drawn = charts_in(dom)
    expected_rows = len(charts.timeline_rows(load(rendered / name)))
    rows, subplots, traces = drawn["timeline"]
    assert rows == subplots == expected_rows
    assert traces >= expected_rows
    shot = rendered / f"{name}.png"
    done = chromium("--window-size=1280,2600", f"--screenshot={shot}", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert png_size(shot) == (1280, 2600)
    assert shot.stat().st_size > 50_000, "a blank page would compress far below this"


def test_index_page_draws_a_trend_per_experiment(rendered: Path) -> None:
    done = chromium("--dump-dom", (rendered / "index.html").as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_errors(done.stderr) == []
    assert js_errors(done.stdout) == 0
    drawn = charts_in(done.stdout)
    assert len(drawn) == 2  # the crash experiment (two runs) and the load test
    for rows, subplots, traces in drawn.values():
        assert rows == 1
        assert subplots == 3  # error ratio, p95, RTO side by side
        assert traces == 3


def test_a_broken_script_is_seen(rendered: Path, tmp_path: Path) -> None:
    """The check above can fail: a page whose chart script throws is caught."""
    page = tmp_path / "broken.html"
    html = (rendered / "report-run" / "index.html").read_text()
    page.write_text(html.replace('Plotly.newPlot(', 'Plotly.newPlotTypo(', 1))
    done = chromium("--dump-dom", page.as_uri())
    assert console_errors(done.stderr)
    assert js_errors(done.stdout) == 1
    assert charts_in(done.stdout)["timeline"][1] == 0
