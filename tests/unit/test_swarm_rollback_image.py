"""Which image `docker service rollback` would bring back, read from a service's specs as the
engine returns them (the shapes below are trimmed copies of `docker service inspect`)."""

from __future__ import annotations

from typing import Any

from harness.driver.swarm import _rollback_image


def spec(image: str, env: list[str] | None = None, replicas: int = 3) -> dict[str, Any]:
    return {"Name": "devsim_app", "Labels": {"devsim.stack": "devsim"},
            "TaskTemplate": {"ContainerSpec": {"Image": image, "Env": env or ["A=1"]}, "ForceUpdate": 0},
            "Mode": {"Replicated": {"Replicas": replicas}}}


def test_the_previous_image_when_only_the_image_changed() -> None:
    assert _rollback_image(spec("devsim/app:v2-b"), spec("devsim/app:v1-a@sha256:00")) == "devsim/app:v1-a"


def test_none_when_anything_else_changed_too_or_there_is_no_previous_spec() -> None:
    assert _rollback_image(spec("devsim/app:v2-b", env=["A=2"]), spec("devsim/app:v1-a")) is None
    assert _rollback_image(spec("devsim/app:v1-a", replicas=0), spec("devsim/app:v1-a", replicas=3)) is None
    assert _rollback_image(spec("devsim/app:v1-a"), None) is None
