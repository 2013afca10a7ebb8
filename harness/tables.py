"""Plain-text tables for the terminal: columns padded to their widest cell."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.stack.services import ServiceState


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def services_table(states: Sequence[ServiceState]) -> str:
    """`devsim up` and `devsim status`: each service's readiness, version, image, endpoints."""
    rows = [("SERVICE", "READY", "VERSION", "IMAGE", "ENDPOINTS")]
    rows += [(s.name, f"{s.ready}/{s.desired}", s.version, s.image, " ".join(s.endpoints) or "-") for s in states]
    return format_table(rows)
