"""The request log read by window: a sparse index of its blocks, so that a claim over a fault
window parses the requests of that window, not every request of the run.

The log is written as requests finish, so it is nearly, but not exactly, in start order. The
index cuts it into blocks of BLOCK_LINES lines and keeps each block's byte span and its lowest
and highest start time (a zone map): a window's requests are in the blocks whose range meets
it. Building the index reads the start times alone (one regular expression over the bytes);
a log that has grown since is indexed from where the last look stopped, and a line still
being written is left for the next look. Memory: a few numbers per block, whatever the run's
length; a window's rows, as `clientlog.Request`.
"""

from __future__ import annotations

import heapq
import io
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.load import clientlog

BLOCK_LINES = 4096
CHUNK_BYTES = 8 << 20
TAIL_BYTES = 256
_START = re.compile(rb"^(\d+),", re.MULTILINE)
_ANY = 1 << 62


@dataclass(frozen=True)
class Block:
    offset: int
    size: int
    lowest_ms: int
    highest_ms: int


@dataclass
class LogIndex:
    path: Path
    block_lines: int = BLOCK_LINES
    header: str = ""
    blocks: list[Block] = field(default_factory=list)
    scanned: int = 0  # bytes indexed: every complete line before this offset
    identity: tuple[int, int] = (0, 0)  # (device, inode) of the file indexed
    by_start: bool = True  # the header names ts_ms first, as the shipped locustfile writes it
    tail: bytes = b""  # the last bytes indexed, to see the file rewritten in place

    def refresh(self) -> None:
        """Indexes what was appended since the last look (all of it for a new or replaced file)."""
        stat = os.stat(self.path)
        with self.path.open("rb") as fh:
            if (stat.st_dev, stat.st_ino) != self.identity or stat.st_size < self.scanned or not self._same_tail(fh):
                self.header, self.blocks, self.scanned, self.tail = "", [], 0, b""
                self.identity = (stat.st_dev, stat.st_ino)
            if not self.header:
                fh.seek(0)
                first = fh.readline()
                if not first.endswith(b"\n"):
                    return
                self.header = first.decode("utf-8", errors="replace").rstrip("\r\n")
                self.by_start = self.header.split(",", 1)[0] == "ts_ms"
                self.scanned = len(first)
            fh.seek(self.scanned)
            self._scan(fh)
            fh.seek(max(0, self.scanned - TAIL_BYTES))
            self.tail = fh.read(self.scanned - fh.tell())

    def _same_tail(self, fh: io.BufferedReader) -> bool:
        """Whether the bytes before `scanned` are still those indexed (a log truncated and
        written again under the same inode is not)."""
        fh.seek(self.scanned - len(self.tail))
        return fh.read(len(self.tail)) == self.tail

    def _scan(self, fh: io.BufferedReader) -> None:
        pending = b""
        while chunk := fh.read(CHUNK_BYTES):
            data = pending + chunk
            cut = data.rfind(b"\n") + 1
            complete, pending = data[:cut], data[cut:]
            start = 0
            while start < len(complete):
                end = _nth_line_end(complete, start, self.block_lines)
                starts = [int(m) for m in _START.findall(complete, start, end)]
                if not self.by_start:  # start times are not the first column: every block may hold any
                    self.blocks.append(Block(self.scanned, end - start, -_ANY, _ANY))
                elif starts:
                    self.blocks.append(Block(self.scanned, end - start, min(starts), max(starts)))
                self.scanned += end - start
                start = end

    def within(self, start_s: float, end_s: float, name: str = "") -> list[clientlog.Request]:
        """As `clientlog.within(clientlog.read(path), ...)`: the requests that started inside
        [start, end] (seconds since the epoch), optionally of one name, sorted by start."""
        self.refresh()
        lo, hi = start_s * 1000, end_s * 1000
        rows: list[clientlog.Request] = []
        with self.path.open("rb") as fh:
            for block in self.blocks:
                if block.highest_ms < lo or block.lowest_ms > hi:
                    continue
                rows += clientlog.within(self._rows(fh, block), start_s, end_s, name)
        rows.sort(key=lambda r: r.ts_ms)
        return rows

    def watermarks(self) -> list[float]:
        """For each block, the lowest start in the blocks after it (inf after the last): once a
        block is read, no request still to come started, or ended, before its watermark."""
        later = [math.inf] * (len(self.blocks) + 1)
        for i in range(len(self.blocks) - 1, -1, -1):
            later[i] = min(later[i + 1], self.blocks[i].lowest_ms)
        return later[1:]

    def blocks_read(self) -> Iterator[tuple[list[clientlog.Request], float]]:
        """Each block's requests in the order written, with its watermark."""
        self.refresh()
        with self.path.open("rb") as fh:
            for block, watermark in zip(self.blocks, self.watermarks(), strict=True):
                yield self._rows(fh, block), watermark

    def _rows(self, fh: io.BufferedReader, block: Block) -> list[clientlog.Request]:
        """One block's requests, in the order written."""
        fh.seek(block.offset)
        return clientlog.parse_text(self.header, fh.read(block.size).decode("utf-8", errors="replace"))


def by_end(path: Path | str, block_lines: int = BLOCK_LINES) -> Iterator[clientlog.Request]:
    """Every request of the log in the order they ended, holding only those that ended after
    the current block's watermark (the log is written nearly in that order)."""
    pending: list[tuple[float, int, clientlog.Request]] = []
    seq = 0
    for rows, watermark in LogIndex(Path(path), block_lines).blocks_read():
        for r in rows:
            heapq.heappush(pending, (r.end_ms, seq, r))
            seq += 1
        while pending and pending[0][0] < watermark:
            yield heapq.heappop(pending)[2]
    while pending:
        yield heapq.heappop(pending)[2]


def _nth_line_end(data: bytes, start: int, lines: int) -> int:
    """The offset just past the `lines`-th newline from `start`, or the end of `data`."""
    at = start
    for _ in range(lines):
        found = data.find(b"\n", at)
        if found < 0:
            return len(data)
        at = found + 1
    return at


_INDEXES: dict[str, LogIndex] = {}


def index_of(path: Path | str) -> LogIndex:
    """The index of a log, kept for the life of the process (a judge asks one log many times)."""
    key = os.path.realpath(path)
    found = _INDEXES.get(key)
    if found is None:
        found = _INDEXES[key] = LogIndex(Path(key))
    return found


def within(path: Path | str, start_s: float, end_s: float, name: str = "") -> list[clientlog.Request]:
    return index_of(path).within(start_s, end_s, name)
