"""Progress lines on stderr for long work: a fresh line per step, an updating line per wait."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """Writes "[  12.3s] message" lines; on a terminal, waits update one line in place."""

    def __init__(
        self,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        quiet: bool = False,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._start = clock()
        self._quiet = quiet
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._last_update = ""
        self._open_line = False

    def _stamp(self, message: str) -> str:
        return f"[{self._clock() - self._start:6.1f}s] {message}"

    def step(self, message: str) -> None:
        """A new phase of the work."""
        if self._quiet:
            return
        self._close_line()
        self._stream.write(self._stamp(message) + "\n")
        self._stream.flush()
        self._last_update = ""

    def update(self, message: str) -> None:
        """The state of a wait; repeated states are not written twice."""
        if self._quiet or message == self._last_update:
            return
        self._last_update = message
        if self._tty:
            self._stream.write("\r\x1b[K" + self._stamp(message))
            self._open_line = True
        else:
            self._stream.write(self._stamp(message) + "\n")
        self._stream.flush()

    def _close_line(self) -> None:
        if self._open_line:
            self._stream.write("\n")
            self._open_line = False

    def warn(self, message: str) -> None:
        """Something the user must see even with --quiet, that does not stop the work."""
        self._close_line()
        self._stream.write(f"devsim: warning: {message}\n")
        self._stream.flush()

    def done(self) -> None:
        self._close_line()
