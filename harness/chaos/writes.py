"""Probes on writes: when they were acknowledged again, which failed, and the write audit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from harness.chaos import engine, registry
from harness.chaos.evidence import NoEvidence, Refuted
from harness.chaos.window import Window, request_log, resolve_window, seconds_of
from harness.errors import InfrastructureError
from harness.load import clientlog
from harness.target import audit, patroni


def _whole_log(configuration: Configuration) -> list[clientlog.Request]:
    rows = request_log(configuration)
    if not rows:
        raise NoEvidence("no client requests in the log")
    return rows


@registry.claim_probe
def write_rto(window: Window = "first-action", configuration: Configuration = None) -> float:
    """Seconds from the start of the fault (the method's first action) to the end of the first
    acknowledged write sent after the fault was applied: the recovery time clients saw."""
    start, applied = resolve_window(window)
    rows = _whole_log(configuration)
    recovered = clientlog.write_recovery_ms(rows, start, applied)
    if recovered is None:
        sent_after = [r.end_ms for r in clientlog.writes(rows) if r.ts_ms >= applied * 1000]
        if not sent_after:
            raise NoEvidence("no write was sent after the fault")
        raise Refuted(f"none of the {len(sent_after)} writes sent after the fault was acknowledged",
                      at_least=round(max(sent_after) / 1000.0 - start, 3))
    return round(recovered / 1000.0 - start, 3)


@registry.claim_probe
def failed_writes_outside_outage(window: Window = "first-action", configuration: Configuration = None) -> int:
    """Failed or unanswered writes that ended before the fault or were sent after writes were
    acknowledged again: client write errors the outage does not explain. It needs writes sent
    both before the fault and after writes were acknowledged again."""
    start, applied = resolve_window(window)
    rows = _whole_log(configuration)
    sent = clientlog.writes(rows)
    if not any(r.ts_ms < start * 1000 for r in sent):
        raise NoEvidence("no write was sent before the fault")
    recovered = clientlog.write_recovery_ms(rows, start, applied)
    if recovered is None:
        raise NoEvidence("writes were not acknowledged again after the fault: no time after the outage to count in")
    if not any(r.ts_ms > recovered for r in sent):
        raise NoEvidence("no write was sent after writes were acknowledged again")
    return len(clientlog.failed_writes_outside(rows, start, recovered))


@registry.claim_probe
def write_unavailability(window: Window = "fault", configuration: Configuration = None) -> float:
    """Seconds: the longest time without an acknowledged write that overlaps the window,
    measured in full (a gap that began before the window or ended after it counts whole).
    No write sent in the window is no evidence; a gap with no acknowledgement after it is a
    lower bound, judged against the tolerance."""
    start, end = resolve_window(window)
    return seconds_of(clientlog.write_gap(_whole_log(configuration), start, end), "no write was sent in the window",
                      "writes were not acknowledged again before the log ended")


def audit_found(configuration: Configuration = None) -> dict[str, Any]:
    """The run's write audit (audit.json); audited now, from the database's leader, when
    there is none yet."""
    t = engine.target(configuration)
    if not t.request_log:
        raise ActivityFailed("no client request log to audit: run under `devsim run`")
    log = Path(t.request_log)
    found = audit.saved(log.parent)
    if found is None:
        try:
            found = audit.run_audit(patroni.discover(engine.driver(configuration)), log).as_dict()
        except (InfrastructureError, OSError) as exc:
            raise ActivityFailed(f"cannot audit the writes: {exc}") from exc
    return found


@registry.claim_probe
def write_audit(field: str = "lost", configuration: Configuration = None) -> int:
    """One count of the write audit (lost, ghosts, duplicates, acknowledged, ...), from the
    run's audit.json; audited now, from the database's leader, when there is none yet."""
    found = audit_found(configuration)
    if field not in found or not isinstance(found[field], int):
        raise ActivityFailed(f"the write audit has no count {field!r}")
    return int(found[field])


@registry.claim_probe
def lost_write_age(window: Window = "first-action", configuration: Configuration = None) -> float:
    """Seconds before the fault (the method's first action) the earliest LOST write was
    acknowledged: how far back a restore to the latest point lost data. 0 when none was."""
    start, _applied = resolve_window(window)
    found = audit_found(configuration)
    if not isinstance(found.get("lost"), int) or not isinstance(found.get("acknowledged"), int):
        raise ActivityFailed(f"the write audit has no counts: {found.get('error') or 'an audit of another form'}")
    if not found["acknowledged"]:
        raise NoEvidence("the write audit found no acknowledged write")
    first = found.get("lost_first_ack")
    if found["lost"] and first is None:
        raise NoEvidence(f"the write audit found {found['lost']} LOST writes but not when they were acknowledged")
    return 0.0 if first is None else round(max(0.0, start - float(first)), 3)


