"""What a load run measured: Locust's own CSV read back, the request log merged, the summary written."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

from harness.errors import InfrastructureError
from harness.load.slo import SloResult, describe
from harness.runs import RunFiles
from harness.tables import format_table

REQUEST_LOG = RunFiles.REQUEST_LOG


@dataclass(frozen=True)
class Totals:
    """Whole-run figures from Locust's Aggregated row; latencies in ms."""

    requests: int
    failures: int
    rps: float
    avg: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    @property
    def error_ratio(self) -> float:
        return self.failures / self.requests if self.requests else math.nan

    def figures(self) -> dict[str, float]:
        data: dict[str, float] = {k: float(v) for k, v in asdict(self).items()}
        data["error_ratio"] = self.error_ratio
        return data


def _number(row: dict[str, str], column: str) -> float:
    raw = (row.get(column) or "").strip()
    if raw in ("", "N/A"):
        return math.nan
    return float(raw)


def read_totals(stats_csv: Path) -> Totals:
    """The Aggregated row of Locust's `<prefix>_stats.csv`."""
    try:
        with stats_csv.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("Name") == "Aggregated"]
    except OSError as exc:
        raise InfrastructureError(f"Locust wrote no statistics ({stats_csv.name}): {exc.strerror}") from exc
    if not rows:
        raise InfrastructureError(f"Locust's {stats_csv.name} has no Aggregated row")
    row = rows[-1]
    return Totals(
        requests=int(_number(row, "Request Count")), failures=int(_number(row, "Failure Count")),
        rps=_number(row, "Requests/s"), avg=_number(row, "Average Response Time"),
        p50=_number(row, "50%"), p90=_number(row, "90%"), p95=_number(row, "95%"), p99=_number(row, "99%"),
        max=_number(row, "Max Response Time"),
    )


@dataclass(frozen=True)
class Live:
    """The last line of Locust's stats history: what the run is doing now."""

    users: int
    rps: float
    failures: int
    p95: float
    requests: int


LIVE_TAIL = 64 * 1024  # bytes read from the end of the history: many seconds of rows


def read_live(history_csv: Path) -> Live | None:
    """The newest Aggregated row of `<prefix>_stats_history.csv`, or None before the first one.

    Read every second while a run lasts, so it reads the header and the file's last 64 KiB
    only: the whole file (a row per request name per second) took longer and more memory the
    longer a soak ran."""
    try:
        with history_csv.open("rb") as fh:
            header = fh.readline()
            size = fh.seek(0, 2)
            start = max(len(header), size - LIVE_TAIL)
            fh.seek(start)
            tail = fh.read()
    except OSError:
        return None
    lines = tail.decode("utf-8", errors="replace").splitlines()
    if start > len(header) and lines:
        lines = lines[1:]  # the first line read may be cut
    names = next(csv.reader([header.decode("utf-8", errors="replace")]), [])
    rows = [r for r in csv.DictReader(lines, fieldnames=names) if r.get("Name") == "Aggregated"]
    if not rows:
        return None
    row = rows[-1]
    return Live(users=int(_number(row, "User Count")), rps=_number(row, "Requests/s"),
                failures=int(_number(row, "Total Failure Count")), p95=_number(row, "95%"),
                requests=int(_number(row, "Total Request Count")))


def merge_request_logs(run_dir: Path) -> int:
    """Folds the workers' request logs (requests.csv.worker-*) into requests.csv, sorted by
    start time (rows are written as requests finish). Returns the number of rows."""
    target = run_dir / REQUEST_LOG
    parts = sorted(run_dir.glob(REQUEST_LOG + ".worker-*"))
    sources = parts or ([target] if target.exists() else [])
    header: list[str] = []
    rows: list[list[str]] = []
    for part in sources:
        with part.open(newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, header)
            rows.extend(reader)
    if not sources:
        return 0
    rows.sort(key=lambda r: int(r[0]))
    with target.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    for part in parts:
        part.unlink()
    return len(rows)


def write_summary(path: Path, run_id: str, totals: Totals, results: Iterable[SloResult],
                  extra: dict[str, object]) -> dict[str, object]:
    results = list(results)
    summary: dict[str, object] = {
        "run_id": run_id,
        "status": "passed" if all(r.passed for r in results) else "failed",
        "slos": [{"expression": r.slo.text, "metric": r.slo.metric, "op": r.slo.op,
                  "threshold": r.slo.threshold, "measured": _json_number(r.measured), "passed": r.passed}
                 for r in results],
        "totals": {k: _json_number(v) for k, v in totals.figures().items()},
        **extra,
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def write_junit(path: Path, run_id: str, results: Iterable[SloResult], seconds: float) -> None:
    """One test case per SLO, for CI systems."""
    results = list(results)
    suite = ET.Element("testsuite", name="devsim-load-slos", tests=str(len(results)),
                       failures=str(sum(not r.passed for r in results)), time=f"{seconds:.1f}")
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="run_id", value=run_id)
    for r in results:
        case = ET.SubElement(suite, "testcase", classname="devsim.slo", name=r.slo.text, time="0")
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=f"measured {describe(r.slo.metric, r.measured)}",
                                    type="SloBreached")
            failure.text = f"{r.slo.text} does not hold: measured {describe(r.slo.metric, r.measured)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def summary_table(totals: Totals, results: Iterable[SloResult]) -> str:
    lines = [
        f"requests {totals.requests}  failures {totals.failures} ({describe('error_ratio', totals.error_ratio)})  "
        f"rps {totals.rps:.1f}  p50 {totals.p50:g} ms  p95 {totals.p95:g} ms  p99 {totals.p99:g} ms  "
        f"max {totals.max:g} ms",
        "",
    ]
    rows = [("SLO", "MEASURED", "RESULT")] + [
        (r.slo.text, describe(r.slo.metric, r.measured), "ok" if r.passed else "BREACHED") for r in results
    ]
    return "\n".join(lines) + "\n" + format_table(rows)
