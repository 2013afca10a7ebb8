"""The Prometheus range queries a run's claims made, kept with the run so that it can be
judged again from its folder (`devsim judge`): recorded while `devsim run` judges, replayed
(never re-queried) when it judges again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import InfrastructureError

Series = list[list[tuple[float, float]]]


def _key(query: str, start: float, end: float, step: float) -> list[Any]:
    return [query, float(start), float(end), float(step)]


class Recorder:
    """Answers range queries from Prometheus and appends each answer to the run's file."""

    def __init__(self, prometheus: Any, path: Path) -> None:
        self._prometheus, self.path = prometheus, path
        self._kept: list[dict[str, Any]] = json.loads(path.read_text()) if path.is_file() else []

    def matrix(self, query: str, start: float, end: float, step: float = 1.0) -> Series:
        series: Series = self._prometheus.matrix(query, start, end, step)
        self._kept.append({"query": _key(query, start, end, step), "series": series})
        self.path.write_text(json.dumps(self._kept) + "\n")  # whole after every answer: a crash keeps the rest
        return series


class Replay:
    """Answers the range queries a run recorded, exactly as Prometheus answered them then."""

    def __init__(self, path: Path) -> None:
        try:
            kept = json.loads(path.read_text()) if path.is_file() else []
        except (OSError, ValueError) as exc:
            raise InfrastructureError(f"cannot read the recorded queries {path}: {exc}") from exc
        self._answers = {json.dumps(k["query"]): k["series"] for k in kept}

    def matrix(self, query: str, start: float, end: float, step: float = 1.0) -> Series:
        found = self._answers.get(json.dumps(_key(query, start, end, step)))
        if found is None:
            raise InfrastructureError(f"the run did not record {query!r} over [{start}, {end}] (step {step:g} s)")
        return [[(float(t), float(v)) for t, v in points] for points in found]
