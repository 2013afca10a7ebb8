"""Blocks that must not be cut short: Ctrl-C and SIGTERM wait until they are done."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from harness.progress import Progress


@contextmanager
def signals_deferred(progress: Progress, what: str) -> Iterator[list[str]]:
    """Ctrl-C and SIGTERM wait until the block is done (the safety net must finish; a
    verdict is written whole; a restore's order is placed whole); the signals that came are
    listed in what it yields."""
    got: list[str] = []

    def note(signum: int, frame: FrameType | None) -> None:
        got.append(signal.Signals(signum).name)
        progress.warn(f"{got[-1]} received: finishing {what} first")

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
