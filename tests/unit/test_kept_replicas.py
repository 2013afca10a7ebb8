"""`devsim up` and the autoscaler's count (harness/target/scaling.py): an up keeps the count the
autoscaler set, and only a count it could have set, against the fake engine."""

from __future__ import annotations

import io
import json

import pytest

from harness.config import load_settings
from harness.errors import UsageError
from harness.progress import Progress
from harness.stack.waiting import Waiter
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


AUTOSCALER_ENV = {"AUTOSCALER": "on", "MIN": "3", "MAX": "6", "DOWN_WINDOW_S": "60", "LOOP_S": "5"}


def settle(driver: FakeDriver, scale_in_after: int | None) -> tuple[str, list[str]]:
    """scaling.settle_at_floor with a clock of its own: the fake engine scales the app to 3 at
    the `scale_in_after`-th look (None: never, a user's load keeps it out)."""
    stream, looks, now = io.StringIO(), [], [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        looks.append(f"{now[0]:g}")
        if scale_in_after is not None and len(looks) == scale_in_after:
            driver.update("app", replicas=3)

    scaling.settle_at_floor(driver, Progress(stream=stream), Waiter(85.0, 1.0, clock=lambda: now[0], sleep=sleep))
    return stream.getvalue(), looks


def test_an_app_scaled_out_by_earlier_load_is_waited_back_to_its_floor_before_an_experiment() -> None:
    driver = FakeDriver("devsim-settle", services={"app": 5})
    driver.add_service("autoscaler", 1, env=AUTOSCALER_ENV)
    said, looks = settle(driver, scale_in_after=40)
    assert len(looks) == 40  # it waited for the autoscaler's own scale-in...
    assert [c for c in driver.calls if c.startswith("update")] == ["update app replicas=3"]  # ...made no change itself
    assert ("app at 5 replicas, above its floor of 3 after earlier load: waiting up to 85 s for the autoscaler "
            "to scale it in") in said
    assert "app back at its floor of 3" in said


def test_a_load_that_keeps_the_app_out_is_a_warning_after_the_window_and_two_loops() -> None:
    driver = FakeDriver("devsim-settle", services={"app": 4})
    driver.add_service("autoscaler", 1, env=AUTOSCALER_ENV)
    said, looks = settle(driver, scale_in_after=None)
    assert looks[-1] == "85"  # 60 s window + 2 x 5 s loops + 15 s
    assert "app still above its floor of 3 after 85 s (4 wanted, 4 running): is a load of your own running?" in said


@pytest.mark.parametrize(("app", "env"), [(3, AUTOSCALER_ENV), (4, {**AUTOSCALER_ENV, "AUTOSCALER": "off"}),
                                          (4, None)])
def test_at_its_floor_switched_off_or_without_an_autoscaler_nothing_is_waited(app: int,
                                                                               env: dict[str, str] | None) -> None:
    driver = FakeDriver("devsim-settle", services={"app": app})
    if env is not None:
        driver.add_service("autoscaler", 1, env=env)
    assert settle(driver, scale_in_after=1) == ("", [])
