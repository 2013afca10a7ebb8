"""`devsim up` and the autoscaler's count (harness/target/scaling.py): an up keeps the count the
autoscaler set, and only a count it could have set, against the fake engine."""

from __future__ import annotations

import io
import json

import pytest

from harness.config import load_settings
from harness.errors import UsageError
from harness.progress import Progress
from harness.target import scaling
from tests.unit.fakedriver import FakeDriver


def kept(app_replicas: int | None, **overrides: str) -> tuple[dict[str, str], str]:
    services = {} if app_replicas is None else {"app": app_replicas}
    driver = FakeDriver("devsim-kept", services=services)
    settings = load_settings({}).replace(overrides=tuple(overrides.items()) or None)
    stream = io.StringIO()
    found = scaling.kept_replicas(driver, settings, Progress(stream=stream))
    return found, stream.getvalue()


@pytest.mark.parametrize("running", [4, 6])
def test_a_count_the_autoscaler_set_is_kept_and_said(running: int) -> None:
    found, said = kept(running)
    assert found == {"APP_DEPLOY_REPLICAS": str(running)}
    assert f"keeping app at {running} replicas, the autoscaler's count (its floor is 3)" in said


@pytest.mark.parametrize("running", [None, 1, 3, 7])  # no app; below or at the floor; past the maximum (6)
def test_no_count_the_autoscaler_could_not_have_set(running: int | None) -> None:
    assert kept(running) == ({}, "")


def test_switched_off_or_with_a_lower_maximum_the_floor_wins() -> None:
    assert kept(5, AUTOSCALER="off") == ({}, "")
    assert kept(5, AUTOSCALE_MAX="4") == ({}, "")
    assert kept(4, AUTOSCALE_MAX="4")[0] == {"APP_DEPLOY_REPLICAS": "4"}


def test_status_shows_the_switch_the_bounds_and_the_last_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = FakeDriver("devsim-kept", services={"app": 3})
    assert scaling.autoscaler_status(driver) is None  # a stack without an autoscaler says nothing
    driver.add_service("autoscaler", 1, env={"AUTOSCALER": "on", "MIN": "3", "MAX": "6", "TARGET": "40"})
    decision = {"at": 0, "outcome": "keep", "reason": "load 12 / target 40 per replica: 1 recommended, 3 within "
                "the bounds and rate"}
    lines = ['{"started": true}', json.dumps(decision), "a line that is not JSON"]
    monkeypatch.setattr(driver, "logs", lambda service, lines_=5: lines)
    found = scaling.autoscaler_status(driver)
    assert found == {"switch": "on", "min": "3", "max": "6", "target": "40", "predictive": False, "last": decision}
    line = scaling.describe(found)
    assert line.startswith("on, app 3 to 6 replicas at 40 requests/s each; last decision at ")
    assert line.endswith(": keep (load 12 / target 40 per replica: 1 recommended, 3 within the bounds and rate)")
    lines[:] = ['{"started": true}']
    assert scaling.describe(scaling.autoscaler_status(driver) or {}).endswith("; no decision yet")
    driver.add_service("autoscaler", 1, env={"AUTOSCALER": "on", "MIN": "3", "MAX": "6", "TARGET": "40",
                                             "EXPERIMENTAL_MODE": "true"})
    assert scaling.describe(scaling.autoscaler_status(driver) or {}) == (
        "on, app 3 to 6 replicas at 40 requests/s each, predictive (EXPERIMENTAL_MODE); no decision yet")


def test_a_floor_above_the_maximum_is_refused_before_anything_is_deployed() -> None:
    settings = load_settings({}).replace(replicas=7)
    with pytest.raises(UsageError) as refused:
        scaling.check_bounds(settings)
    assert refused.value.one_line() == ("--replicas 7 is above the autoscaler's maximum (6); raise it with "
                                        "--set AUTOSCALE_MAX=7 or lower --replicas")
    scaling.check_bounds(settings.replace(overrides=(("AUTOSCALE_MAX", "8"),)))  # raised: fine
    scaling.check_bounds(load_settings({}))  # the shipped 3 within 6
