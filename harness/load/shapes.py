"""Load shapes for `devsim load --shape` (issue #33): what Locust's LoadTestShape runs, as a
list of stages the harness checks before any load is sent.

A stage holds a number of users for a number of seconds, reached at a spawn rate, under a
phase name (the SLOs of a phase, and the report's timeline, are scoped by it). The built-in
shapes are made from the run's `--users` (the peak) and `--run-time` (the whole run); a
table file gives the stages one a line:

    # seconds-or-duration  users  spawn-rate  [phase]
    30s   10   5    base
    20s   40   20   spike
    1m    10   5    recovery

The harness hands the stages to Locust as JSON in DEVSIM_SHAPE; `loadtests/shapes.py` is
the plain Locust shape that follows them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

ENV = "DEVSIM_SHAPE"  # the stages, as JSON, for loadtests/shapes.py
LOG_ENV, LOG = "DEVSIM_SHAPE_LOG", "shape.csv"  # where it writes `time,phase,users` at each phase change
MAX_USERS = 2000
MAX_SPAWN_RATE = 1000.0
MAX_SECONDS = 24 * 3600.0  # a whole shape: a day-long soak at the most
MAX_STAGES = 1000
MAX_TABLE_BYTES = 1 << 20
PHASE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?$")


@dataclass(frozen=True)
class Stage:
    seconds: float
    users: int
    spawn_rate: float
    phase: str

    def as_list(self) -> list[object]:
        return [self.seconds, self.users, self.spawn_rate, self.phase]


def total_seconds(stages: list[Stage]) -> float:
    return sum(s.seconds for s in stages)


def at(stages: list[Stage], elapsed: float) -> Stage | None:
    """The stage that runs `elapsed` seconds into the shape; None once it is over."""
    end = 0.0
    for stage in stages:
        end += stage.seconds
        if elapsed < end:
            return stage
    return None


def phases(stages: list[Stage]) -> list[tuple[str, float, float]]:
    """(phase, start, end) in seconds from the shape's start, adjacent stages of one phase
    joined: what a phase-scoped SLO and the report's timeline read."""
    found: list[tuple[str, float, float]] = []
    start = 0.0
    for stage in stages:
        end = start + stage.seconds
        if found and found[-1][0] == stage.phase and found[-1][2] == start:
            found[-1] = (stage.phase, found[-1][1], end)
        else:
            found.append((stage.phase, start, end))
        start = end
    return found


def _ramp(users: int, seconds: float) -> list[Stage]:
    return [Stage(seconds, users, max(users / seconds, 0.1), "ramp")]


def _step(users: int, seconds: float) -> list[Stage]:
    steps = 4
    return [Stage(seconds / steps, max(1, round(users * k / steps)), float(users), f"step-{k}")
            for k in range(1, steps + 1)]


def _spike(users: int, seconds: float) -> list[Stage]:
    base = max(1, users // 4)
    return [Stage(seconds * 0.3, base, float(base), "base"), Stage(seconds * 0.2, users, float(users), "spike"),
            Stage(seconds * 0.5, base, float(users), "recovery")]


def _soak(users: int, seconds: float) -> list[Stage]:
    return [Stage(seconds, users, float(users), "soak")]


BUILT_IN: dict[str, Callable[[int, float], list[Stage]]] = {
    "ramp": _ramp, "step": _step, "spike": _spike, "soak": _soak}


def built_in(name: str, users: int, seconds: float) -> list[Stage]:
    """A built-in shape of `users` at its peak over `seconds`; UsageError for an unknown name."""
    if name not in BUILT_IN:
        raise UsageError(f"unknown load shape {name!r} (one of: {', '.join(sorted(BUILT_IN))}, or --shape-file)")
    return check(BUILT_IN[name](users, seconds), f"shape {name!r}")


def chosen(name: str | None, table: Path | None, users: int, seconds: float) -> list[Stage]:
    """The stages `devsim load --shape NAME` or `--shape-file TABLE` asks for; none for neither."""
    if name and table:
        raise UsageError("--shape and --shape-file: give one")
    if table:
        return read_table(table)
    return built_in(name, users, seconds) if name else []


def parse_seconds(text: str) -> float | None:
    """"90", "90s", "1m30s", "1h", "0.5s" in seconds; None when it is not a duration."""
    found = _DURATION.match(text.strip())
    if not found or not any(found.groups()):
        return None
    hours, minutes, seconds = found.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def parse_table(text: str, where: str) -> list[Stage]:
    """The stages of a shape table; UsageError naming the line of the first mistake."""
    stages: list[Stage] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        at_line = f"{where}, line {number}"
        fields = line.split()
        if len(fields) not in (3, 4):
            raise UsageError(f"{at_line}: a stage is 'duration users spawn-rate [phase]', got {line!r}")
        seconds = parse_seconds(fields[0])
        if seconds is None:
            raise UsageError(f"{at_line}: {fields[0]!r} is not a duration (e.g. 30s, 2m, 1h)")
        if not fields[1].isdigit():
            raise UsageError(f"{at_line}: users must be a whole number, got {fields[1]!r}")
        try:
            rate = float(fields[2])
        except ValueError:
            raise UsageError(f"{at_line}: the spawn rate must be a number, got {fields[2]!r}") from None
        phase = fields[3] if len(fields) == 4 else f"stage-{len(stages) + 1}"
        stages.append(_checked_stage(Stage(seconds, int(fields[1]), rate, phase), at_line))
        if len(stages) > MAX_STAGES:
            raise UsageError(f"{where}: more than {MAX_STAGES} stages")
    if not stages:
        raise UsageError(f"{where}: no stage (a line is 'duration users spawn-rate [phase]')")
    return check(stages, where)


def read_table(path: Path) -> list[Stage]:
    """A shape table file; UsageError when it cannot be read or is not one."""
    try:
        if path.stat().st_size > MAX_TABLE_BYTES:
            raise UsageError(f"{path}: larger than {MAX_TABLE_BYTES} bytes; a shape table is a few lines")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the shape table {path}: {exc}") from exc
    return parse_table(text, str(path))


def _checked_stage(stage: Stage, where: str) -> Stage:
    if not (math.isfinite(stage.seconds) and 0 < stage.seconds <= MAX_SECONDS):
        raise UsageError(f"{where}: a stage lasts more than 0 s and at most {MAX_SECONDS:.0f} s")
    if not 0 <= stage.users <= MAX_USERS:
        raise UsageError(f"{where}: users must be between 0 and {MAX_USERS}, got {stage.users}")
    if not (math.isfinite(stage.spawn_rate) and 0 < stage.spawn_rate <= MAX_SPAWN_RATE):
        raise UsageError(f"{where}: the spawn rate must be above 0 and at most {MAX_SPAWN_RATE:g} a second, "
                         f"got {stage.spawn_rate:g}")
    if not PHASE.match(stage.phase):
        raise UsageError(f"{where}: a phase is a lowercase name (a-z, 0-9, '-', '_'), got {stage.phase!r}")
    return stage


def check(stages: list[Stage], where: str) -> list[Stage]:
    for stage in stages:
        _checked_stage(stage, where)
    if total_seconds(stages) > MAX_SECONDS:
        raise UsageError(f"{where}: the shape lasts {total_seconds(stages):.0f} s, more than {MAX_SECONDS:.0f} s")
    return stages


def to_env(stages: list[Stage]) -> str:
    return json.dumps([s.as_list() for s in stages])
