"""The window a probe measures over, and the client request log it reads.

A `window` argument is "fault" (the method's fault window, recorded by
harness.chaos.controls), "run" (everything so far), "30s" (the last 30 seconds) or
[start, end] in seconds since the epoch (how `devsim run` passes the journal's window).
"first-action" is the span of the method's first action (the kill, the switchover);
"applied" the same span from the moment that action applied its fault (the kill after a
cut-off of the replicas), as its output's `applied_at` says.
"""

from __future__ import annotations

import re
import time

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from harness.chaos import engine, runstate
from harness.chaos.evidence import NoEvidence, OpenEnded
from harness.load import clientlog, logindex

Window = str | list[float] | tuple[float, float]
_SECONDS = re.compile(r"^(?:last\s*)?(\d+(?:\.\d+)?)\s*s$")


def resolve_window(window: Window) -> tuple[float, float]:
    now = time.time()
    if isinstance(window, list | tuple):
        if len(window) != 2:
            raise ActivityFailed(f"a window is [start, end], got {window!r}")
        return float(window[0]), float(window[1])
    if window == "fault":
        found = runstate.fault_window()
        if found is None:
            raise ActivityFailed("the fault window has not opened: no method action has started "
                                 "(is the harness.chaos.controls control declared?)")
        return found
    if window in ("first-action", "applied"):
        action = runstate.first_action() if window == "first-action" else runstate.first_action_applied()
        if action is None:
            raise ActivityFailed("the method's first action has not ended yet")
        return action
    if window == "run":
        return 0.0, now
    m = _SECONDS.match(str(window).strip())
    if not m:
        raise ActivityFailed(f"bad window {window!r}: use fault, first-action, applied, run, 30s or [start, end]")
    return now - float(m.group(1)), now


# --- the client request log ------------------------------------------------------------

def _log_path(configuration: Configuration) -> str:
    path = engine.target(configuration).request_log
    if not path:
        raise ActivityFailed("no client request log: run under `devsim run`, or set the request_log "
                             "configuration to the requests.csv of a running `devsim load`")
    return path


def request_log(configuration: Configuration) -> list[clientlog.Request]:
    """The run's client request log so far (the background load's requests.csv)."""
    path = _log_path(configuration)
    try:
        rows = clientlog.read(path)
    except OSError as exc:
        raise ActivityFailed(f"cannot read the client request log {path}: {exc.strerror}") from exc
    return rows


MIN_REQUESTS = 20  # a percentile or a count over fewer requests says little
MIN_FOR_RATIO = 200  # so that one failed request is 0.5 %: the finest bound the shipped claims ask


def client_rows(window: Window, name: str, configuration: Configuration, least: int = 1) -> list[clientlog.Request]:
    start, end = resolve_window(window)
    path = _log_path(configuration)
    try:  # the window's rows alone, by the log's index (one log is asked for many windows)
        found = logindex.within(path, start, end, name)
    except OSError as exc:
        raise ActivityFailed(f"cannot read the client request log {path}: {exc.strerror}") from exc
    if len(found) < max(1, int(least)):
        what = f"client requests{' named ' + repr(name) if name else ''}"
        raise NoEvidence(f"{len(found)} {what} in the window; the figure needs at least {int(least)}"
                         if found else f"no {what} in the window")
    return found


def seconds_of(span: clientlog.Span | None, nothing: str, still_open: str) -> float:
    """A measured stretch as a claim's figure: none is no evidence (`nothing` says why), an
    open one is a lower bound (`still_open` says what had not happened), else its seconds."""
    if span is None:
        raise NoEvidence(nothing)
    if span.open:
        raise OpenEnded(still_open, at_least=round(span.seconds, 3))
    return round(span.seconds, 3)
