"""The typed record of one run: its windows, each claim's spec and result,
and the verdict. `verdict.json` is a Verdict written out, and is read back into one: the
report reads these types, never loose dicts.

Evidence flows down into this module (nothing here reaches Docker, Prometheus or a file other
than verdict.json), so the judge and the report can be run on a recorded run offline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from harness.runs import RunFiles
from harness.verdict.timing import Timing

EXTENSION = "devsim"  # the name of the experiment's `extensions` entry that holds the claims
HELD, FAILED, NO_EVIDENCE, ERROR = "held", "failed", "no evidence", "error"
OUTCOMES = (HELD, FAILED, NO_EVIDENCE, ERROR)
SHOWN, VACUOUS, UNPROVEN = "shown", "vacuous", "unproven"  # a claim's power (harness.experiment.power)
STATUSES = ("passed", "failed", "error", "aborted")  # aborted: a stop condition tripped (the system failed)
EXIT = {"passed": 0, "failed": 1, "error": 2, "aborted": 1}


@dataclass(frozen=True)
class UnderControl:
    """The negative control a run was made under (`--prove`): its switches, the shipped run it
    tests, and the switches' values as read back from the running stack."""

    name: str
    switches: Mapping[str, str]
    of_run: str = ""
    read_back: Mapping[str, str | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "switches": dict(self.switches), "of_run": self.of_run,
                "read_back": dict(self.read_back)}

    @classmethod
    def from_dict(cls, data: Any) -> UnderControl | None:
        if not isinstance(data, Mapping):
            return None
        return cls(str(data.get("name") or ""), {str(k): str(v) for k, v in (data.get("switches") or {}).items()},
                   str(data.get("of_run") or ""),
                   {str(k): None if v is None else str(v) for k, v in (data.get("read_back") or {}).items()})


@dataclass(frozen=True)
class ControlRecord:
    """One control run of a proved verdict: the control, its run and how that run ended."""

    name: str
    switches: Mapping[str, str]
    must_fail: tuple[str, ...]
    run_id: str | None
    status: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "switches": dict(self.switches), "must_fail": list(self.must_fail),
                "run_id": self.run_id, "status": self.status, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControlRecord:
        return cls(str(data.get("name") or ""), {str(k): str(v) for k, v in (data.get("switches") or {}).items()},
                   tuple(str(n) for n in data.get("must_fail") or []),
                   None if data.get("run_id") is None else str(data["run_id"]), str(data.get("status") or "error"),
                   str(data.get("reason") or ""))


@dataclass(frozen=True)
class Abort:
    """The stop condition that tripped a run, and what it measured."""

    condition: str
    figure: str = ""  # a figure of the request log, or "" for a PromQL condition
    promql: str = ""
    above: float | None = None
    below: float | None = None
    over: float | None = None
    measured: float | None = None
    at: float | None = None  # seconds since the epoch
    seconds_into_fault: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Abort | None:
        """An Abort read back from verdict.json; None for anything that is not one."""
        if not isinstance(data, Mapping):
            return None
        number = {k: None if data.get(k) is None else float(data[k])
                  for k in ("above", "below", "over", "measured", "at", "seconds_into_fault")}
        return cls(str(data.get("condition") or ""), str(data.get("figure") or ""), str(data.get("promql") or ""),
                   **number)


@dataclass(frozen=True)
class Window:
    """A span of wall-clock time in seconds since the epoch, both edges included."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return round(self.end - self.start, 3)

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "seconds": self.seconds,
                "start_iso": _iso(self.start), "end_iso": _iso(self.end)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Window | None:
        if not data:
            return None
        return cls(float(data["start"]), float(data["end"]))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class ClaimSpec:
    """One claim of the experiment's devsim extension, parsed once (after validation)."""

    name: str
    tolerance: Any
    probe: str = ""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    journal: str = ""
    field: str = ""
    figure: str = ""

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> ClaimSpec:
        return cls(name=str(spec["name"]), tolerance=spec["tolerance"], probe=str(spec.get("probe") or ""),
                   arguments=dict(spec.get("arguments") or {}), journal=str(spec.get("journal") or ""),
                   field=str(spec.get("field") or ""), figure=str(spec.get("figure") or ""))


def extension(experiment: Mapping[str, Any]) -> Mapping[str, Any]:
    """The experiment's devsim extension; {} when it has none."""
    for ext in experiment.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == EXTENSION:
            return ext
    return {}


def raw_claims(experiment: Mapping[str, Any]) -> list[Any]:
    """The claims as written, for validation."""
    return list(extension(experiment).get("claims") or [])


def extension_list(experiment: Mapping[str, Any], key: str) -> list[Any]:
    """A list of the devsim extension as written (`controls`, `abort_when`): a lone mapping
    counts as a list of one, for validation to name it."""
    found = extension(experiment).get(key)
    return list(found) if isinstance(found, list) else ([] if found is None else [found])


def report_series(experiment: Mapping[str, Any]) -> list[dict[str, str]]:
    """The server series the experiment asks its report to show, each with title, query, unit."""
    report = extension(experiment).get("report") or {}
    return [dict(s) for s in report.get("series") or [] if isinstance(s, dict)]


def series_problems(experiment: Mapping[str, Any]) -> list[str]:
    found = []
    for n, spec in enumerate(report_series(experiment), start=1):
        missing = [k for k in ("title", "query") if not isinstance(spec.get(k), str) or not spec.get(k)]
        if missing:
            found.append(f"report series #{n} needs {' and '.join(missing)}")
    return found


@dataclass(frozen=True)
class Claim:
    """A claim judged: what was expected, what was measured, over which window, and how it ended."""

    name: str
    source: str
    expected: Any
    measured: Any
    outcome: str  # one of OUTCOMES
    error: str = ""
    figure: str = ""  # a key figure of the run history (rto) this claim's measurement stands for
    window: tuple[float, float] | None = None  # the exact window the claim was judged over
    at_least: float | None = None  # for a refuted time: the lower bound measured (seconds)
    power: str = ""  # `devsim run --prove`: shown, vacuous or unproven (harness.experiment.power)
    power_note: str = ""  # under which control it failed (or held), with the measured value

    @property
    def passed(self) -> bool:
        return self.outcome == HELD

    def as_dict(self) -> dict[str, Any]:
        """For verdict.json: every field, plus `passed` for readers of older files."""
        return {**asdict(self), "window": list(self.window) if self.window else None, "passed": self.passed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Claim:
        outcome = data.get("outcome")
        if outcome not in OUTCOMES:  # written before outcomes existed: a probe error or a plain result
            outcome = HELD if data.get("passed") else ERROR if data.get("error") else FAILED
        window = data.get("window")
        return cls(name=str(data.get("name", "?")), source=str(data.get("source", "")),
                   expected=data.get("expected"), measured=data.get("measured"), outcome=str(outcome),
                   error=str(data.get("error") or ""), figure=str(data.get("figure") or ""),
                   window=(float(window[0]), float(window[1])) if window else None,
                   at_least=float(data["at_least"]) if data.get("at_least") is not None else None,
                   power=str(data.get("power") or ""), power_note=str(data.get("power_note") or ""))


@dataclass(frozen=True)
class Rollback:
    name: str
    status: str


@dataclass(frozen=True)
class Verdict:
    """Everything `devsim run` concluded about one experiment run."""

    run_id: str
    experiment: str
    file: str
    status: str  # one of STATUSES
    reason: str
    claims: tuple[Claim, ...]
    fault_window: Window | None = None
    recovery_window: Window | None = None
    journal_status: str | None = None
    deviated: bool | None = None
    rollbacks: tuple[Rollback, ...] = ()
    safety_net: tuple[str, ...] = ()
    load: Mapping[str, float] = field(default_factory=dict)  # the load's totals (harness.load.results.Totals)
    audit: Mapping[str, Any] | None = None  # the write audit, as the target stack's wing wrote it (JSON)
    started: float = 0.0
    ended: float = 0.0
    versions: Mapping[str, Any] = field(default_factory=dict)  # {stack, start, end}, as summary.json has them
    controls: tuple[ControlRecord, ...] = ()  # --prove: each control run
    control: UnderControl | None = None  # this run was made under a negative control
    abort: Abort | None = None  # the stop condition that tripped, with its figure
    timing: Timing | None = None  # time to detect and to recover

    @property
    def exit_code(self) -> int:
        return EXIT[self.status]

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "experiment": self.experiment, "file": self.file, "status": self.status,
            "reason": self.reason, "journal_status": self.journal_status, "deviated": self.deviated,
            "fault_window": self.fault_window.as_dict() if self.fault_window else None,
            "recovery_window": self.recovery_window.as_dict() if self.recovery_window else None,
            "claims": [c.as_dict() for c in self.claims],
            "rollbacks": [asdict(r) for r in self.rollbacks], "safety_net": list(self.safety_net),
            "load": dict(self.load), "audit": dict(self.audit) if self.audit is not None else None,
            "started": self.started, "ended": self.ended, "versions": dict(self.versions),
            "controls": [c.as_dict() for c in self.controls],
            "control": self.control.as_dict() if self.control else None,
            "abort": self.abort.as_dict() if self.abort else None,
            "timing": self.timing.as_dict() if self.timing else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            run_id=str(data["run_id"]), experiment=str(data.get("experiment") or ""), file=str(data.get("file") or ""),
            status=str(data["status"]), reason=str(data.get("reason") or ""),
            claims=tuple(Claim.from_dict(c) for c in data.get("claims") or []),
            fault_window=Window.from_dict(data.get("fault_window")),
            recovery_window=Window.from_dict(data.get("recovery_window")),
            journal_status=data.get("journal_status"), deviated=data.get("deviated"),
            rollbacks=tuple(Rollback(str(r.get("name")), str(r.get("status"))) for r in data.get("rollbacks") or []),
            safety_net=tuple(str(s) for s in data.get("safety_net") or []),
            load={str(k): float(v) for k, v in (data.get("load") or {}).items() if isinstance(v, int | float)},
            audit=data.get("audit"), started=float(data.get("started") or 0.0), ended=float(data.get("ended") or 0.0),
            versions=dict(data.get("versions") or {}),
            controls=tuple(ControlRecord.from_dict(c) for c in data.get("controls") or [] if isinstance(c, dict)),
            control=UnderControl.from_dict(data.get("control")),
            abort=Abort.from_dict(data.get("abort")),
            timing=Timing.from_dict(data.get("timing")),
        )

    def write(self, files: RunFiles) -> None:
        files.verdict.write_text(json.dumps(self.as_dict(), indent=2, default=str) + "\n")

    @classmethod
    def read(cls, files: RunFiles) -> Verdict:
        return cls.from_dict(json.loads(files.verdict.read_text()))
