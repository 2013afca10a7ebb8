"""Calibrating the instrument: outages of known length, made on purpose, measured by the
harness from its own request log, against the engine's own event times.

Every app replica is frozen (`docker pause`) ten times for about 1 s and once for about 2 s,
under 30 users. Clients see an outage from the moment the last replica froze to the moment
the first one thawed (requests hang, then finish in a burst); the engine records both as
pause and unpause events (nanoseconds). The harness's `timing.outages` finds each stretch in
which no request succeeded. The measurement error, stated in the README: each outage's
length within 100 ms of the engine's, and every 1 s outage found.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.config import Settings
from harness.load import clientlog
from harness.verdict import timing
from tests.integration.conftest import devsim, explain

pytestmark = pytest.mark.docker

SHORT, LONG, SHORT_COUNT = 1.0, 2.0, 10
TOLERANCE_S = 0.1


def experiment() -> dict[str, Any]:
    pause = {"type": "action", "name": "", "provider": {"type": "python", "module": "harness.chaos.actions",
                                                        "func": "pause_service", "arguments": {"service": "app"}}}
    thaw = {"type": "action", "name": "", "provider": {"type": "python", "module": "harness.chaos.actions",
                                                       "func": "unpause_service", "arguments": {"service": "app"}}}
    method = []
    for n, seconds in enumerate([SHORT] * SHORT_COUNT + [LONG], start=1):
        method.append({**pause, "name": f"freeze-{n}", "pauses": {"after": seconds}})
        method.append({**thaw, "name": f"thaw-{n}", "pauses": {"after": 1.5}})
    return {
        "version": "1.0.0", "title": "calibration: outages of known length", "description": "test instrument",
        "configuration": {"request_log": {"type": "env", "key": "DEVSIM_REQUEST_LOG", "default": ""}},
        "controls": [{"name": "devsim", "provider": {"type": "python", "module": "harness.chaos.controls"}}],
        "steady-state-hypothesis": {"title": "up", "probes": [
            {"type": "probe", "name": "health", "tolerance": 200,
             "provider": {"type": "python", "module": "harness.chaos.probes", "func": "http_status",
                          "arguments": {"path": "/health"}}}]},
        "method": method,
        "rollbacks": [{**thaw, "name": "thaw-everything"}],
        "extensions": [{"name": "devsim", "claims": [
            {"name": "the longest outage is measured", "probe": "client_outage_seconds",
             "tolerance": {"type": "range", "range": [0, 60]}}]}],
    }


def engine_outages(settings: Settings, since: float, until: float) -> list[tuple[float, float]]:
    """(last pause, first unpause) of each freeze, from the engine's events."""
    out = subprocess.run(
        ["docker", "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--format", "{{json .}}",
         "--filter", "type=container", "--filter", "event=pause", "--filter", "event=unpause",
         "--filter", f"label=com.docker.swarm.service.name={settings.stack}_app"],
        capture_output=True, text=True, check=True, timeout=60).stdout
    events = sorted((int(e["timeNano"]) / 1e9, e["Action"]) for e in map(json.loads, out.splitlines()))
    found: list[tuple[float, float]] = []
    paused: list[float] = []
    for at, action in events:
        if action == "pause":
            paused.append(at)
        elif paused:  # the first unpause after a freeze of every replica ends it
            found.append((max(paused), at))
            paused = []
    return found


def test_outages_of_known_length_are_measured_within_100_ms(stack: Settings, tmp_path: Path) -> None:
    path = tmp_path / "calibration.yaml"
    path.write_text(yaml.safe_dump(experiment(), sort_keys=False))
    done = devsim("run", "--no-up", "--json", "--load-users", "30", str(path))
    assert done.returncode == 0, explain(done)
    [summary] = json.loads(done.stdout)
    run_dir = Path(summary["run_dir"])
    verdict = json.loads((run_dir / "verdict.json").read_text())
    truth = engine_outages(stack, verdict["started"], verdict["ended"])
    assert len(truth) == SHORT_COUNT + 1, truth
    lengths = [round(b - a, 3) for a, b in truth]
    assert all(0.8 < t < 1.5 for t in lengths[:-1]), lengths  # what was made
    assert 1.8 < lengths[-1] < 2.5, lengths
    measured = timing.outages(clientlog.read(run_dir / "requests.csv"), min_gap_s=0.5)
    errors: list[tuple[float, float]] = []
    for start, end in truth:
        hits = [m for m in measured if m[0] < end and m[1] > start]  # overlaps the engine's outage
        assert len(hits) == 1, (start, end, measured)
        (m_start, m_end), = hits
        errors.append((round((m_end - m_start) - (end - start), 3), round(m_start - start, 3)))
    print(f"\nlength error, start error (s) per outage: {errors}")
    assert len(measured) == len(truth), measured  # no outage found that the engine did not make
    assert all(abs(length) <= TOLERANCE_S for length, _ in errors), errors
    # every run's verdict carries the longest one, and it is the 2 s freeze
    assert verdict["timing"]["outage_s"] == pytest.approx(lengths[-1], abs=TOLERANCE_S)
