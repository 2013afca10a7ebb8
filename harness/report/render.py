"""Writes reports/<run-id>/index.html and reports/index.html: self-contained pages (plotly.js's
basic bundle embedded, no CDN, no server; a run folder copied alone still shows its charts)
rendered from a run's files and the run history."""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import jinja2

from harness.progress import Progress
from harness.report import charts, history
from harness.report.rundata import RunData
from harness.report.rundata import load as load_run
from harness.runs import RunFiles
from harness.version import __version__

TEMPLATES = Path(__file__).parent / "templates"
PAGE = RunFiles.REPORT  # a run's page; the index of every run has the same name
MAX_TRENDS = 30
NONE = "-"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(utc=charts.utc, pct=pct, ms=ms, secs=secs, show=show, version=__version__)
    return env


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def pct(value: Any) -> str:
    return NONE if _missing(value) else f"{float(value) * 100:.2f} %"


def ms(value: Any) -> str:
    return NONE if _missing(value) else f"{float(value):.0f} ms"


def secs(value: Any) -> str:
    return NONE if _missing(value) else f"{float(value):.2f} s"


def show(value: Any) -> str:
    if _missing(value):
        return NONE
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _common() -> dict[str, Any]:
    return {"css": (TEMPLATES / "base.css").read_text(), "plotly_js": charts.plotly_js(), "now": time.time()}


def _versions(run: RunData) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(phase, [(service, version)])] for the header; the end only when it differs from the start."""
    found = []
    start = run.versions.get("start") or {}
    end = run.versions.get("end") or {}
    if start:
        found.append(("versions at start", sorted(start.items())))
    if end and end != start:
        found.append(("at end", sorted(end.items())))
    return found


def render_run(run_dir: Path) -> tuple[RunData, Path]:
    """Renders one run's page and returns what was read and where it was written."""
    run = load_run(run_dir)
    html = _env().get_template("run.html.j2").render(
        run=run, rows=charts.timeline_rows(run), timeline=charts.timeline(run), close_up=charts.close_up(run),
        close_up_span=charts.close_up_span(run), versions=_versions(run),
        stack=run.versions.get("stack", ""), kind_label="chaos experiment" if run.kind == "experiment" else "load test",
        **_common())
    page = run_dir / PAGE
    page.write_text(html)
    return run, page


def render_index(reports_dir: Path) -> Path:
    """Renders the list of every run in the history store, with trends per experiment."""
    runs = history.runs(reports_dir)
    by_experiment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        folder = Path(r["folder"])
        r["present"] = (folder / PAGE).exists()
        r["href"] = os.path.relpath(folder / PAGE, reports_dir.resolve()) if r["present"] else ""
        by_experiment[r["experiment"]].append(r)
    trends = [(title, charts.trends(items, f"trend-{n}"))
              for n, (title, items) in enumerate(list(by_experiment.items())[:MAX_TRENDS])]
    html = _env().get_template("index.html.j2").render(runs=runs, trends=trends, store=history.STORE, **_common())
    page = reports_dir / PAGE
    page.write_text(html)
    return page


def publish(run_dir: Path, reports_dir: Path) -> Path:
    """Renders a run's page, records it in the history and re-renders the index."""
    run, page = render_run(run_dir)
    history.record(reports_dir, run)
    render_index(reports_dir)
    return page


def publish_after_run(run_dir: Path, reports_dir: Path, progress: Progress) -> Path | None:
    """`publish` at the end of a run: the run's files are already written, so a report that cannot
    be rendered is a warning with its reason, never a lost run or a changed exit code."""
    progress.step("writing the HTML report")
    try:
        return publish(run_dir, reports_dir)
    except Exception as exc:  # the verdict stands whatever the renderer does
        progress.warn(f"the HTML report was not written: {type(exc).__name__}: {exc}"
                      f" (retry with `devsim report {run_dir}`)")
        return None
