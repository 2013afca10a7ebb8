"""The client request log (requests.csv) read back: windows, ratios, runs of failures."""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Request:
    ts_ms: int
    name: str
    status: int
    latency_ms: float
    success: bool
    item_id: str
    ack: str
    error: str = ""

    @property
    def end_ms(self) -> float:
        return self.ts_ms + self.latency_ms


FIELDS = ("ts_ms", "name", "status", "latency_ms", "success", "item_id", "ack", "error")


def _parse(lines: Iterable[str]) -> list[Request]:
    """Rows of the CSV text (its header first); a row cut short (being written right now) or
    that does not parse is skipped."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header or any(name not in header for name in FIELDS[:5]):
        return []
    width = len(header)
    ts, name, status, latency, success = (header.index(f) for f in FIELDS[:5])
    item = header.index("item_id") if "item_id" in header else -1
    ack = header.index("ack") if "ack" in header else -1
    error = header.index("error") if "error" in header else -1
    rows = []
    for row in reader:
        if len(row) < width:
            continue
        try:
            rows.append(Request(int(row[ts]), row[name], int(row[status] or 0), float(row[latency] or 0),
                                row[success] == "1", row[item] if item >= 0 else "", row[ack] if ack >= 0 else "",
                                row[error].strip()[:200] if error >= 0 else ""))
        except ValueError:
            continue
    return rows


def parse_text(header: str, text: str) -> list[Request]:
    """The rows of some complete lines of the log, read with its header line."""
    return _parse(io.StringIO(f"{header}\n{text}", newline=""))


def read(path: Path | str) -> list[Request]:
    """Every row, sorted by start time (rows are appended as requests finish)."""
    with Path(path).open(newline="") as fh:
        rows = _parse(fh)
    rows.sort(key=lambda r: r.ts_ms)
    return rows


class Follower:
    """A log that grows while a run goes on, read incrementally: each call parses only the
    complete lines appended since the last one, and keeps the rows of the last `keep_s`
    seconds (by start time), so a check made every second costs what was appended, not the
    whole log."""

    def __init__(self, path: Path | str, keep_s: float) -> None:
        self.path, self._keep_ms = Path(path), keep_s * 1000
        self._offset, self._header = 0, ""
        self._rows: list[Request] = []

    def rows(self) -> list[Request]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return self._rows
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        text = complete.decode("utf-8", errors="replace")
        if not self._header:
            self._header, _, text = text.partition("\n")
        if text:
            self._rows += _parse(io.StringIO(f"{self._header}\n{text}", newline=""))
            newest = max(r.ts_ms for r in self._rows) if self._rows else 0
            self._rows = [r for r in self._rows if r.ts_ms >= newest - self._keep_ms]
        return self._rows


def within(rows: list[Request], start_s: float, end_s: float, name: str = "") -> list[Request]:
    """Requests that started inside [start, end] (seconds since the epoch), optionally of one name."""
    lo, hi = start_s * 1000, end_s * 1000
    return [r for r in rows if lo <= r.ts_ms <= hi and (not name or r.name == name)]


def error_ratio(rows: list[Request]) -> float:
    return sum(not r.success for r in rows) / len(rows) if rows else math.nan


def longest_failure_run_s(rows: list[Request]) -> float:
    """The longest stretch in which every request failed: from the start of the first failure
    of a run to the end of its last one, a run ending at the next success."""
    longest = 0.0
    run_start: float | None = None
    run_end = 0.0
    for r in rows:
        if r.success:
            if run_start is not None:
                longest = max(longest, run_end - run_start)
            run_start = None
            continue
        if run_start is None:
            run_start, run_end = r.ts_ms, r.end_ms
        run_end = max(run_end, r.end_ms)
    if run_start is not None:
        longest = max(longest, run_end - run_start)
    return longest / 1000.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# --- writes: each POST of an item carries its id and whether it was acknowledged ----------

def writes(rows: list[Request]) -> list[Request]:
    return [r for r in rows if r.item_id]


def write_recovery_ms(rows: list[Request], fault_start_s: float, fault_applied_s: float) -> float | None:
    """When writes were acknowledged again after a fault: the end of the first acknowledged
    write sent after the fault was applied (so that the old primary cannot have served it).
    None when no write was acknowledged after it."""
    sent_after = [r.end_ms for r in writes(rows) if r.ack == "ack" and r.ts_ms >= fault_applied_s * 1000]
    if not sent_after:
        return None
    return max(min(sent_after), fault_start_s * 1000)


def failed_writes_outside(rows: list[Request], fault_start_s: float, recovered_ms: float) -> list[Request]:
    """Failed or unanswered writes the fault cannot explain: those that ended before it began,
    or were sent after writes were acknowledged again."""
    return [r for r in writes(rows) if r.ack != "ack"
            and (r.end_ms < fault_start_s * 1000 or r.ts_ms > recovered_ms)]


@dataclass(frozen=True)
class Span:
    """A measured stretch in seconds; `open` when it had not ended where the evidence did, so
    that `seconds` is only a lower bound."""

    seconds: float
    open: bool = False


def longest_gap(points: list[float], start: float, end: float, log_end: float) -> Span:
    """The longest stretch between successive points (seconds, sorted: acknowledgements,
    successes) that overlaps [start, end], measured whole, wherever its points lie. Open, a
    lower bound, when no point comes at or before the window's start (measured from it) or
    none after the last one before its end (measured to `log_end`)."""
    gaps = [Span(round(b - a, 3)) for a, b in itertools.pairwise(points) if b >= start and a <= end]
    if not points or points[0] > start:  # when it began is unknown
        gaps.append(Span(round(min([*points, log_end]) - start, 3), open=True))
    if not points or points[-1] < end:  # it goes on to the log's end
        gaps.append(Span(round(log_end - (points[-1] if points else start), 3), open=True))
    return Span(max(g.seconds for g in gaps), open=any(g.open for g in gaps))


def write_gap(rows: list[Request], start_s: float, end_s: float) -> Span | None:
    """The longest time without an acknowledged write that overlaps [start, end]
    (`longest_gap` over the acknowledgements' ends). None when no write was sent in the
    window: nothing to judge."""
    sent = writes(rows)
    if not any(start_s * 1000 <= r.ts_ms <= end_s * 1000 for r in sent):
        return None
    acks = sorted(r.end_ms / 1000.0 for r in sent if r.ack == "ack")
    return longest_gap(acks, start_s, end_s, max(end_s, max(r.end_ms for r in rows) / 1000.0))
