"""The HTTP server the gate and the autoscaler's metrics share: a client that hangs up before
its answer is written (a health check that has read the status line) is not an error worth a
traceback in the log."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)
