"""The stack's mail sink: SMTP on 2525 keeps every message; HTTP on 8025 lists them.

GET  /health              200
GET  /messages?since=TS   every message received at or after TS (epoch seconds), oldest first:
                          {received, from, to, subject, status, alertnames, body}
POST /console             Alertmanager's webhook (the console receiver): each alert is printed
                          as a warning line and kept
GET  /console?since=TS    what the console received
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from aiosmtpd.controller import Controller

MAX_KEPT = 5000
_lock = threading.Lock()
messages: list[dict[str, Any]] = []
console: list[dict[str, Any]] = []


def keep(store: list[dict[str, Any]], item: dict[str, Any]) -> None:
    with _lock:
        store.append(item)
        del store[:-MAX_KEPT]


def _body(msg: Any) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    text = part.get_content() if part is not None else ""
    return re.sub(r"<[^>]+>", " ", text)[:20000]


class Handler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        msg = message_from_bytes(envelope.content, policy=policy.default)
        subject = str(msg.get("Subject", ""))
        status = "resolved" if subject.upper().startswith("[RESOLVED") else "firing"
        body = _body(msg)
        names = sorted(set(re.findall(r"alertname\s*=\s*([A-Za-z0-9_]+)", body)))
        keep(messages, {"received": time.time(), "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                        "subject": subject, "status": status, "alertnames": names, "body": body})
        print(f"mail to {','.join(envelope.rcpt_tos)}: {subject}", flush=True)
        return "250 Message accepted for delivery"


class Http(BaseHTTPRequestHandler):
    def _send(self, code: int, data: Any) -> None:
        raw = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        since = float((parse_qs(url.query).get("since") or ["0"])[0])
        if url.path == "/health":
            self._send(200, {"status": "ok"})
        elif url.path in ("/messages", "/console"):
            store = messages if url.path == "/messages" else console
            with _lock:
                found = [m for m in store if m["received"] >= since]
            self._send(200, found)
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        if urlparse(self.path).path != "/console":
            self._send(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            payload = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"error": "not JSON"})
            return
        for alert in payload.get("alerts", []):
            labels = alert.get("labels", {})
            line = (f"WARNING alert {labels.get('alertname', '?')} {alert.get('status', '?')} "
                    f"severity={labels.get('severity', '?')}: {alert.get('annotations', {}).get('summary', '')}")
            print(line, flush=True)
            keep(console, {"received": time.time(), "status": alert.get("status"),
                           "alertname": labels.get("alertname"), "severity": labels.get("severity"), "line": line})
        self._send(200, {"ok": True})

    def log_message(self, format: str, *args: Any) -> None:
        return


def main() -> None:
    # PID 1 of its container: without a handler the kernel ignores SIGTERM, and every
    # `devsim down` would wait out Docker's 10 s grace before SIGKILL. Nothing is kept on disk.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    controller = Controller(Handler(), hostname="0.0.0.0", port=2525)
    controller.start()
    print("mail sink: SMTP on 2525, HTTP on 8025", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8025), Http).serve_forever()


if __name__ == "__main__":
    main()
