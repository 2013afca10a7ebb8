"""The write audit: did every write the clients were told succeeded survive?

The load's writes carry their own item ids, and the request log records for each whether
it was acknowledged (201), refused, or left without an answer. After the run, the audit
reads the ids back from the current leader and classifies every id the clients sent:
  acknowledged and present  good
  acknowledged but missing  LOST (the claim that matters)
  not acknowledged, present ghost (allowed: the commit happened, the answer was lost)
  present more than once    duplicate
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.load import clientlog
from harness.runs import RunFiles
from harness.target import patroni

SHOWN_IDS = 20


@dataclass(frozen=True)
class Audit:
    writes: int
    acknowledged: int
    good: int
    lost: int
    ghosts: int
    duplicates: int
    unacknowledged_absent: int
    read_from: str = ""
    lost_ids: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    lost_first_ack: float | None = None  # when the earliest LOST write was acknowledged (epoch s)
    lost_last_ack: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def classify(rows: list[clientlog.Request], stored: Counter[str], read_from: str = "") -> Audit:
    """Each write of the request log against the ids found in the table (id -> row count)."""
    sent = clientlog.writes(rows)
    acked = {r.item_id for r in sent if r.ack == "ack"}
    others = {r.item_id for r in sent} - acked
    lost = sorted(i for i in acked if stored.get(i, 0) == 0)
    duplicates = sorted(i for i in acked | others if stored.get(i, 0) > 1)
    lost_acks = [r.end_ms / 1000.0 for r in sent if r.ack == "ack" and stored.get(r.item_id, 0) == 0]
    return Audit(
        writes=len(sent), acknowledged=len(acked), good=len(acked) - len(lost), lost=len(lost),
        ghosts=sum(1 for i in others if stored.get(i, 0) > 0), duplicates=len(duplicates),
        unacknowledged_absent=sum(1 for i in others if stored.get(i, 0) == 0), read_from=read_from,
        lost_ids=lost[:SHOWN_IDS], duplicate_ids=duplicates[:SHOWN_IDS],
        lost_first_ack=min(lost_acks) if lost_acks else None, lost_last_ack=max(lost_acks) if lost_acks else None)


def stored_ids(cluster: patroni.Cluster, since: float) -> tuple[Counter[str], str]:
    """Every item id written since `since` (epoch seconds) with its row count, read on the leader."""
    leader = cluster.leader()
    rows = cluster.sql(f"SELECT id, count(*) FROM items WHERE created_at >= to_timestamp({since:.3f}) "
                       "GROUP BY id", member=leader)
    return Counter({r[0]: int(r[1]) for r in rows if len(r) == 2}), f"{leader} (leader)"


def run_audit(cluster: patroni.Cluster, request_log: Path) -> Audit:
    """Audits the writes of one request log and saves audit.json next to it."""
    rows = clientlog.read(request_log)
    sent = clientlog.writes(rows)
    since = (min(r.ts_ms for r in sent) / 1000.0 - 5.0) if sent else 0.0
    stored, source = stored_ids(cluster, since) if sent else (Counter(), "")
    audit = classify(rows, stored, source)
    RunFiles(request_log.parent).audit.write_text(json.dumps(audit.as_dict(), indent=2) + "\n")
    return audit


def saved(run_dir: Path) -> dict[str, Any] | None:
    path = RunFiles(run_dir).audit
    return json.loads(path.read_text()) if path.is_file() else None
