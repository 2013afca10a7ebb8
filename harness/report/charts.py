"""Plotly figures for the reports: one run's timeline (client and server rows on one time axis)
and the trend of each key figure across runs. Returned as HTML fragments without plotly.js,
which the page embeds once."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from harness.report.rundata import RunData

CONFIG = {"displaylogo": False, "responsive": True}
ROW_HEIGHT = 210
COLOURS = {"passed": "#1a7f37", "failed": "#cf222e", "error": "#8c959f"}


def plotly_js() -> str:
    return str(get_plotlyjs())


def utc(ts: float) -> str:
    """Epoch seconds as the UTC time string the charts and tables share."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _clean(values: list[Any]) -> list[Any]:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values]


def timeline_rows(run: RunData) -> list[str]:
    """The titles of the timeline's rows, in order (the browser test counts them)."""
    rows = ["client requests and failures per second", "client latency (ms), by second of request start"]
    rows += [f"{s['title']} ({s['unit']})" if s.get("unit") else s["title"] for s in run.server.get("series", [])]
    return rows


def timeline(run: RunData) -> str:
    titles = timeline_rows(run)
    fig = make_subplots(rows=len(titles), cols=1, shared_xaxes=True, subplot_titles=titles,
                        vertical_spacing=min(0.08, 0.35 / len(titles)))
    xs = [utc(s) for s in run.client.seconds]
    fig.add_trace(go.Scatter(x=xs, y=run.client.requests, name="requests/s", mode="lines",
                             line={"color": "#0969da"}, legendgroup="client"), row=1, col=1)
    fig.add_trace(go.Scatter(x=xs, y=run.client.failures, name="failures/s", mode="lines",
                             line={"color": COLOURS["failed"]}, legendgroup="client"), row=1, col=1)
    for label, values, colour in (("p50", run.client.p50, "#57606a"), ("p95", run.client.p95, "#bf8700"),
                                  ("p99", run.client.p99, "#8250df")):
        fig.add_trace(go.Scatter(x=xs, y=_clean(values), name=f"latency {label}", mode="lines",
                                 line={"color": colour}, connectgaps=False, legendgroup="latency"), row=2, col=1)
    for row, spec in enumerate(run.server.get("series", []), start=3):
        for line in spec.get("lines", []):
            points = line.get("points", [])
            fig.add_trace(go.Scatter(x=[utc(t) for t, _ in points], y=_clean([v for _, v in points]),
                                     name=f"{line['label']}", mode="lines", legendgroup=f"server{row}",
                                     hovertemplate=f"{spec['title']}: %{{y}}<extra>{line['label']}</extra>"),
                          row=row, col=1)
        if spec.get("error") or not spec.get("lines"):
            fig.add_annotation(text=spec.get("error") or "no data in this window", showarrow=False,
                               xref=f"x{row} domain", yref=f"y{row} domain", x=0.5, y=0.5)
    _mark(fig, run)
    fig.update_xaxes(range=[utc(run.started), utc(run.ended)], type="date")
    fig.update_xaxes(title_text="time (UTC)", row=len(titles), col=1)
    fig.update_layout(height=ROW_HEIGHT * len(titles) + 120, margin={"l": 60, "r": 20, "t": 60, "b": 50},
                      hovermode="x unified", legend={"orientation": "h", "y": -0.04 - 0.2 / len(titles)},
                      template="plotly_white")
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id="timeline", config=CONFIG))


def _mark(fig: go.Figure, run: RunData) -> None:
    """Fault and recovery windows shaded across every row; each action of the journal a line."""
    for window, colour in ((run.fault_window, "rgba(207,34,46,0.13)"), (run.recovery_window, "rgba(26,127,55,0.10)")):
        if window:
            fig.add_vrect(x0=utc(window[0]), x1=utc(window[1]), fillcolor=colour, line_width=0, layer="below",
                          row="all", col=1)
    for event in run.events:
        if event.kind != "action":
            continue
        colour = "#cf222e" if event.phase == "method" else "#1a7f37"
        fig.add_vline(x=utc(event.start), line={"color": colour, "dash": "dash", "width": 1.5}, row="all", col=1)
        fig.add_annotation(text=f"{event.name}", x=utc(event.start), xref="x", yref="paper", y=1.03,
                           yanchor="bottom", showarrow=False, textangle=0, font={"size": 11, "color": colour})


def trends(runs: list[dict[str, Any]], div_id: str) -> str:
    """Error ratio, p95 and RTO across the runs of one experiment, oldest first, coloured by verdict."""
    rows = [("error_ratio", "client error ratio (%)", 100.0), ("p95_ms", "client p95 (ms)", 1.0),
            ("rto_s", "RTO (s)", 1.0)]
    fig = make_subplots(rows=1, cols=len(rows), subplot_titles=[r[1] for r in rows], horizontal_spacing=0.07)
    ordered = sorted(runs, key=lambda r: r["started"])
    xs = [utc(r["started"]) for r in ordered]
    colours = [COLOURS.get(r["status"], "#8c959f") for r in ordered]
    for col, (key, title, scale) in enumerate(rows, start=1):
        ys = [None if r.get(key) is None else r[key] * scale for r in ordered]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=title, showlegend=False,
                                 marker={"color": colours, "size": 9}, line={"color": "#afb8c1"},
                                 text=[r["run_id"] for r in ordered],
                                 hovertemplate="%{text}<br>%{y}<extra>" + title + "</extra>"), row=1, col=col)
    fig.update_layout(height=260, margin={"l": 50, "r": 20, "t": 40, "b": 40}, template="plotly_white")
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=CONFIG))
