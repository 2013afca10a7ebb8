"""Plotly figures for the reports: one run's timeline (client and server rows on one time axis)
and the trend of each key figure across runs. Returned as HTML fragments without plotly.js,
which the page embeds once: plotly.js's "basic" bundle (scatter, bar, pie; 1.2 MB), kept in
vendor/ at the version the plotly package builds figures for, instead of the full one (4.7 MB)
the package ships, so that a page stays viewable alone and under 1.5 MB."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from harness.report.rundata import RunData

CONFIG = {"displaylogo": False, "responsive": True}
# A timeline longer than this many seconds is drawn in bins of several seconds, so that the
# page of an hour's soak stays as light as a short run's (3600 points per line would not).
MAX_POINTS = 900
ROW_HEIGHT = 210
COLOURS = {"passed": "#1a7f37", "failed": "#cf222e", "error": "#8c959f", "aborted": "#9a6700"}


BUNDLE = Path(__file__).parent / "vendor" / "plotly-basic.min.js"


@cache
def plotly_js() -> str:
    return BUNDLE.read_text(encoding="utf-8")


def bundle_version() -> str:
    """The plotly.js version in the vendored bundle's banner."""
    found = re.search(r"plotly\.js \(basic - minified\) v(\S+)", plotly_js()[:300])
    return found.group(1) if found else "?"


def utc(ts: float) -> str:
    """Epoch seconds as the UTC time string the charts and tables share."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _clean(values: list[Any]) -> list[Any]:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values]


def bin_width(run: RunData) -> int:
    """Seconds per point of the timeline: 1 up to MAX_POINTS seconds of run, then wider."""
    return max(1, math.ceil(max(len(run.client.seconds), run.duration_s) / MAX_POINTS))


def timeline_rows(run: RunData) -> list[str]:
    """The titles of the timeline's rows, in order (the browser test counts them)."""
    width = bin_width(run)
    if width == 1:
        rows = ["client requests and failures per second", "client latency (ms), by second of request start"]
    else:
        rows = [f"client requests and failures per second (mean and lowest second of each {width} s; failures: "
                "the worst second)", f"client latency (ms), the worst second of each {width} s"]
    per = "" if width == 1 else f", mean over {width} s"
    rows += [f"{s['title']} ({s['unit']}{per})" if s.get("unit") else f"{s['title']}{per}"
             for s in run.server.get("series", [])]
    return rows


def _binned(xs: list[float], ys: list[Any], width: int, worst: bool,
            least: bool = False) -> tuple[list[str], list[Any]]:
    """(UTC strings, values) with one point per `width` seconds: the mean of the bin, or its
    largest value when `worst` (its smallest when `least`); a bin with no value stays a gap."""
    if width == 1:
        return [utc(x) for x in xs], _clean(ys)
    bins: dict[int, list[float]] = {}
    starts: dict[int, float] = {}
    origin = xs[0] if xs else 0.0
    for x, y in zip(xs, _clean(ys), strict=True):
        key = int((x - origin) // width)
        starts.setdefault(key, origin + key * width)
        if y is not None:
            bins.setdefault(key, []).append(float(y))
    keys = sorted(starts)
    values = [(max(bins[k]) if worst else min(bins[k]) if least else round(sum(bins[k]) / len(bins[k]), 6))
              if k in bins else None for k in keys]
    return [utc(starts[k]) for k in keys], values


def timeline(run: RunData) -> str:
    titles = timeline_rows(run)
    width = bin_width(run)
    fig = make_subplots(rows=len(titles), cols=1, shared_xaxes=True, subplot_titles=titles,
                        vertical_spacing=min(0.08, 0.35 / len(titles)))
    seconds = run.client.seconds
    xs, requests = _binned(seconds, list(run.client.requests), width, worst=False)
    fig.add_trace(go.Scatter(x=xs, y=requests, name="requests/s", mode="lines",
                             line={"color": "#0969da"}, legendgroup="client"), row=1, col=1)
    if width > 1:  # a second with few or no requests (a stall) in a long bin would vanish in its mean
        xs, lowest = _binned(seconds, list(run.client.requests), width, worst=False, least=True)
        fig.add_trace(go.Scatter(x=xs, y=lowest, name="requests/s, lowest second", mode="lines",
                                 line={"color": "#54aeff", "width": 1}, legendgroup="client"), row=1, col=1)
    xs, failures = _binned(seconds, list(run.client.failures), width, worst=True)
    fig.add_trace(go.Scatter(x=xs, y=failures, name="failures/s", mode="lines",
                             line={"color": COLOURS["failed"]}, legendgroup="client"), row=1, col=1)
    for label, values, colour in (("p50", run.client.p50, "#57606a"), ("p95", run.client.p95, "#bf8700"),
                                  ("p99", run.client.p99, "#8250df")):
        xs, ys = _binned(seconds, list(values), width, worst=True)
        fig.add_trace(go.Scatter(x=xs, y=ys, name=f"latency {label}", mode="lines",
                                 line={"color": colour}, connectgaps=False, legendgroup="latency"), row=2, col=1)
    for row, spec in enumerate(run.server.get("series", []), start=3):
        for line in spec.get("lines", []):
            points = line.get("points", [])
            px, py = _binned([t for t, _ in points], [v for _, v in points], width, worst=False)
            fig.add_trace(go.Scatter(x=px, y=py,
                                     name=f"{line['label']}", mode="lines", legendgroup=f"server{row}",
                                     hovertemplate=f"{spec['title']}: %{{y}}<extra>{line['label']}</extra>"),
                          row=row, col=1)
        if spec.get("error") or not spec.get("lines"):
            fig.add_annotation(text=spec.get("error") or "no data in this window", showarrow=False,
                               xref=f"x{row} domain", yref=f"y{row} domain", x=0.5, y=0.5)
    _mark(fig, run, len(titles))
    fig.update_xaxes(range=[utc(run.started), utc(run.ended)], type="date")
    fig.update_xaxes(title_text="time (UTC)", row=len(titles), col=1)
    fig.update_layout(height=ROW_HEIGHT * len(titles) + 120, margin={"l": 60, "r": 20, "t": 60, "b": 50},
                      hovermode="x unified", legend={"orientation": "h", "y": -0.04 - 0.2 / len(titles)},
                      template="plotly_white")
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id="timeline", config=CONFIG))


CLOSE_UP_MARGIN_S = 60.0


def close_up_span(run: RunData) -> tuple[float, float] | None:
    """The span drawn second by second under a binned timeline: the fault and recovery
    windows with a minute either side (at most MAX_POINTS seconds); None when the timeline
    already has a point a second, or the run had no fault."""
    if bin_width(run) == 1 or not run.fault_window:
        return None
    start = run.fault_window[0] - CLOSE_UP_MARGIN_S
    end = max(run.fault_window[1], run.recovery_window[1] if run.recovery_window else 0.0) + CLOSE_UP_MARGIN_S
    return start, min(end, start + MAX_POINTS)


def close_up(run: RunData) -> str:
    """The client rows around the fault at full resolution ("" when `close_up_span` is None)."""
    span = close_up_span(run)
    if span is None:
        return ""
    c = run.client
    chosen = [i for i, second in enumerate(c.seconds) if span[0] <= second <= span[1]]
    xs = [utc(c.seconds[i]) for i in chosen]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=["client requests and failures per second",
                                        "client latency (ms), by second of request start"])
    for name, values, colour, row in (("requests/s", c.requests, "#0969da", 1), ("failures/s", c.failures,
                                                                                 COLOURS["failed"], 1),
                                      ("latency p50", c.p50, "#57606a", 2), ("latency p95", c.p95, "#bf8700", 2),
                                      ("latency p99", c.p99, "#8250df", 2)):
        fig.add_trace(go.Scatter(x=xs, y=_clean([values[i] for i in chosen]), name=name, mode="lines",
                                 line={"color": colour}, connectgaps=False), row=row, col=1)
    _mark(fig, run, 2)
    fig.update_xaxes(range=[utc(span[0]), utc(span[1])], type="date")
    fig.update_layout(height=ROW_HEIGHT * 2 + 120, margin={"l": 60, "r": 20, "t": 60, "b": 50},
                      hovermode="x unified", legend={"orientation": "h", "y": -0.14}, template="plotly_white")
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id="closeup", config=CONFIG))


def _mark(fig: go.Figure, run: RunData, rows: int) -> None:
    """Fault and recovery windows shaded across every row; each action of the journal a line.

    The shapes are written as one list, one per row, rather than with Plotly's add_vrect /
    add_vline(row="all"): those rescan every trace for each shape and row, which made a
    run's report take 4 s to draw (nearly all of it here)."""
    def across(shape: dict[str, Any]) -> list[dict[str, Any]]:
        return [{**shape, "xref": "x" if row == 1 else f"x{row}", "yref": "y domain" if row == 1 else f"y{row} domain",
                 "y0": 0, "y1": 1} for row in range(1, rows + 1)]

    shapes: list[dict[str, Any]] = []
    for window, colour in ((run.fault_window, "rgba(207,34,46,0.13)"), (run.recovery_window, "rgba(26,127,55,0.10)")):
        if window:
            shapes += across({"type": "rect", "x0": utc(window[0]), "x1": utc(window[1]), "fillcolor": colour,
                              "line": {"width": 0}, "layer": "below"})
    for event in run.events:
        if event.kind != "action":
            continue
        colour = "#cf222e" if event.phase == "method" else "#1a7f37"
        shapes += across({"type": "line", "x0": utc(event.start), "x1": utc(event.start),
                          "line": {"color": colour, "dash": "dash", "width": 1.5}})
        fig.add_annotation(text=f"{event.name}", x=utc(event.start), xref="x", yref="paper", y=1.03,
                           yanchor="bottom", showarrow=False, textangle=0, font={"size": 11, "color": colour})
    for label, at in timing_marks(run):
        shapes += across({"type": "line", "x0": utc(at), "x1": utc(at),
                          "line": {"color": "#6e40c9", "dash": "dot", "width": 1}})
        fig.add_annotation(text=label, x=utc(at), xref="x", yref="paper", y=-0.06, yanchor="top", showarrow=False,
                           font={"size": 10, "color": "#6e40c9"})
    fig.update_layout(shapes=shapes)


def timing_marks(run: RunData) -> list[tuple[str, float]]:
    """(label, time) for each time to detect and to recover the run measured."""
    timing = run.timing or {}
    start = timing.get("fault_start")
    if not isinstance(start, int | float):
        return []
    marks = []
    for phase, word in (("detect", "detected"), ("recover", "recovered")):
        for signal, seconds in (timing.get(phase) or {}).items():
            if isinstance(seconds, int | float):
                marks.append((f"{word} ({signal}) +{seconds:.1f} s", start + seconds))
    return marks


TREND_ROWS = (("error_ratio", "client error ratio (%)", 100.0), ("p95_ms", "client p95 (ms)", 1.0),
              ("rto_s", "RTO (s)", 1.0))


@cache
def _trend_layout() -> dict[str, Any]:
    """The trend charts' layout, made once: three panels side by side. Plotly's figure objects
    cost about 90 ms a chart to make (the template is copied, every property validated), and
    the index draws one per experiment on every run."""
    fig = make_subplots(rows=1, cols=len(TREND_ROWS), subplot_titles=[r[1] for r in TREND_ROWS],
                        horizontal_spacing=0.07)
    fig.update_layout(height=260, margin={"l": 50, "r": 20, "t": 40, "b": 40}, template="plotly_white")
    layout: dict[str, Any] = fig.to_plotly_json()["layout"]
    return layout


def trends(runs: list[dict[str, Any]], div_id: str) -> str:
    """Error ratio, p95 and RTO across the runs of one experiment, oldest first, coloured by verdict."""
    ordered = sorted(runs, key=lambda r: r["started"])
    xs = [utc(r["started"]) for r in ordered]
    colours = [COLOURS.get(r["status"], "#8c959f") for r in ordered]
    data = []
    for col, (key, title, scale) in enumerate(TREND_ROWS, start=1):
        axis = "" if col == 1 else str(col)
        data.append({"type": "scatter", "x": xs, "y": [None if r.get(key) is None else r[key] * scale for r in ordered],
                     "mode": "lines+markers", "name": title, "showlegend": False, "xaxis": f"x{axis}",
                     "yaxis": f"y{axis}", "marker": {"color": colours, "size": 9}, "line": {"color": "#afb8c1"},
                     "text": [r["run_id"] for r in ordered],
                     "hovertemplate": "%{text}<br>%{y}<extra>" + title + "</extra>"})
    layout = dict(_trend_layout())
    if len(ordered) == 1:
        layout["annotations"] = [*layout["annotations"], {
            "text": "one run so far: no trend yet", "showarrow": False, "xref": "paper", "yref": "paper",
            "x": 0.5, "y": -0.28, "font": {"size": 12, "color": "#57606a"}}]
    return str(pio.to_html({"data": data, "layout": layout}, validate=False, full_html=False,
                           include_plotlyjs=False, div_id=div_id, config=CONFIG))
