"""The request log summed up in one pass, in memory that does not grow with the run's length:
what a report shows of the clients (per-second counts and latency percentiles, failures by
name and error, whole-run figures), exactly as the same figures over every row in memory.

The log is read block by block through its index (harness.load.logindex). A second's
requests may sit in several blocks (the log is written as requests finish), so a second is
closed only when no later block can hold a request that started in it (each block's lowest
start says so); its latencies are then reduced to three percentiles and dropped. The whole
run's 95th percentile is counted by value: latencies are written to 0.01 ms, so the distinct
values are bounded by the slowest request, not by the number of requests.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.load import clientlog
from harness.load.logindex import BLOCK_LINES, LogIndex

QUANTILES = (50, 95, 99)


@dataclass
class Group:
    """Failed requests of one name and error: how many, the first (start, position in the log)
    and the last start."""

    count: int
    first: tuple[int, int]
    last_ms: int


@dataclass
class Digest:
    seconds: list[int] = field(default_factory=list)  # every second from the first start to the last
    requests: list[int] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    percentiles: dict[int, list[float | None]] = field(default_factory=lambda: {q: [] for q in QUANTILES})
    groups: dict[tuple[str, str], Group] = field(default_factory=dict)
    total: int = 0
    failed: int = 0
    latencies: Counter[float] = field(default_factory=Counter)
    first_ms: int | None = None  # the earliest start
    last_end_ms: float | None = None  # the latest end

    @property
    def error_ratio(self) -> float:
        return self.failed / self.total if self.total else math.nan

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of every latency (as clientlog.percentile over all of them)."""
        if not self.total:
            return math.nan
        rank = max(1, math.ceil(q / 100 * self.total))
        seen = 0
        for value in sorted(self.latencies):
            seen += self.latencies[value]
            if seen >= rank:
                return value
        return math.nan  # not reached: the counts sum to the total

    def failure_groups(self) -> list[tuple[str, str, int, int, int]]:
        """(name, error, count, first start, last start), the largest group first, then the
        earliest (by start, then by place in the log)."""
        ordered = sorted(self.groups.items(), key=lambda kv: (-kv[1].count, kv[1].first))
        return [(name, error, g.count, g.first[0], g.last_ms) for (name, error), g in ordered]


def digest(path: Path | str, block_lines: int = BLOCK_LINES) -> Digest:
    """The log at `path` summed up; an empty Digest for a log with no request."""
    index = LogIndex(Path(path), block_lines)
    found = Digest()
    open_seconds: dict[int, list[float]] = {}
    counts: dict[int, list[int]] = {}  # second -> [requests, failures]
    position = 0
    for rows, watermark in index.blocks_read():
        for r in rows:
            _add(found, r, position, open_seconds, counts)
            position += 1
        closed = sorted(s for s in open_seconds if (s + 1) * 1000 <= watermark)
        for second in closed:
            _close(found, second, open_seconds.pop(second), counts.pop(second))
    return found


def _add(found: Digest, r: clientlog.Request, position: int, open_seconds: dict[int, list[float]],
         counts: dict[int, list[int]]) -> None:
    second = r.ts_ms // 1000
    open_seconds.setdefault(second, []).append(r.latency_ms)
    tally = counts.setdefault(second, [0, 0])
    tally[0] += 1
    found.total += 1
    found.latencies[r.latency_ms] += 1
    found.first_ms = r.ts_ms if found.first_ms is None else min(found.first_ms, r.ts_ms)
    found.last_end_ms = r.end_ms if found.last_end_ms is None else max(found.last_end_ms, r.end_ms)
    if r.success:
        return
    tally[1] += 1
    found.failed += 1
    key = (r.name, r.error or f"status {r.status}")
    group = found.groups.get(key)
    if group is None:
        found.groups[key] = Group(1, (r.ts_ms, position), r.ts_ms)
    else:
        group.count += 1
        group.first = min(group.first, (r.ts_ms, position))
        group.last_ms = max(group.last_ms, r.ts_ms)


def _close(found: Digest, second: int, latencies: list[float], tally: list[int]) -> None:
    """Appends a finished second, after the empty seconds since the last one."""
    if found.seconds:
        for empty in range(found.seconds[-1] + 1, second):
            _append(found, empty, 0, 0, [])
    _append(found, second, tally[0], tally[1], latencies)


def _append(found: Digest, second: int, requests: int, failures: int, latencies: list[float]) -> None:
    found.seconds.append(second)
    found.requests.append(requests)
    found.failures.append(failures)
    for q in QUANTILES:
        found.percentiles[q].append(clientlog.percentile(latencies, q) if latencies else None)
