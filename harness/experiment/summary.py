"""What `devsim run` prints: the claims table, the trials table and the --json summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.experiment import run as experiment_run
from harness.experiment import series
from harness.tables import format_table


def run(outcome: experiment_run.Outcome, page: Path | None) -> dict[str, Any]:
    """One experiment run for `devsim run --json`: its verdict's head and every claim."""
    v = outcome.verdict
    return {"run_id": v.run_id, "experiment": v.experiment, "file": v.file, "status": v.status, "reason": v.reason,
            "exit_code": v.exit_code, "run_dir": str(outcome.run_dir), "report": str(page) if page else None,
            "claims": [c.as_dict() for c in v.claims],  # as verdict.json has them
            "controls": [c.as_dict() for c in v.controls], "abort": v.abort.as_dict() if v.abort else None,
            "timing": v.timing.as_dict() if v.timing else None}


def trials(path: Path, found: series.Trials) -> dict[str, Any]:
    return {"file": str(path), "status": found.status, "reason": found.reason, "exit_code": found.exit_code,
            "trials": str(found.file) if found.file else None,
            "runs": [{"run_id": o.verdict.run_id, "status": o.status, "run_dir": str(o.run_dir)}
                     for o in found.outcomes],
            "claims": [t.as_dict() for t in found.claims]}


def trials_table(found: series.Trials) -> str:
    rows: list[tuple[str, ...]] = [("CLAIM", "EXPECTED", "HELD", "MEDIAN", "MIN", "MAX", "")]
    for t in found.claims:
        spread = [f"{v:.4g}" if v is not None else "-" for v in t.spread().values()]
        rows.append((t.name[:70], str(t.expected)[:30], f"{t.passes}/{t.runs}", *spread, "FLAKY" if t.flaky else ""))
    return format_table(rows)


def claims_table(outcome: experiment_run.Outcome) -> str:
    rows = [("CLAIM", "EXPECTED", "MEASURED", "RESULT")]
    for c in outcome.claims:
        measured = c.error[:60] if c.error else json.dumps(c.measured, default=str)[:60]
        result = "ok" if c.passed else c.outcome.upper()
        power = f" ({c.power.upper()})" if c.power else ""
        rows.append((c.name[:70], str(c.expected)[:30], measured, result + power))
    return format_table(rows)
