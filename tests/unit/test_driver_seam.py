"""What the harness asks of the engine, checked against the fake driver: the rollout's watch,
the lifecycle's waits and teardown, and builds skipped when nothing changed."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import pytest

from harness.config import Settings
from harness.deploy import rollout
from harness.driver import TaskInfo
from harness.errors import InfrastructureError, NotReady
from harness.progress import Progress
from harness.stack import images, lifecycle
from harness.stack.services import declared_services
from harness.stack.waiting import Waiter
from harness.target.devsim import DevsimStack
from harness.target.images import stack_images
from tests.unit.fakedriver import FakeDriver

STACK = "devsim"


def quiet() -> Progress:
    return Progress(stream=io.StringIO(), quiet=True)


@pytest.fixture
def fake() -> FakeDriver:
    driver = FakeDriver(STACK, services={"app": 3})
    for release, digit in (("v1", "1"), ("v2", "2"), ("v2-stuck", "4")):
        for tag in (release, f"{release}-{digit * 12}"):
            driver.add_image(f"{STACK}/app:{tag}", "sha256:" + digit * 64, {"devsim.version": release})
    driver.svcs["app"] = replace(driver.svcs["app"], image=f"{STACK}/app:v1-111111111111")
    return driver


def test_the_watch_reports_each_task_and_ends_live(fake: FakeDriver) -> None:
    steps: list[str] = []
    result = rollout.deploy(fake, "http://127.0.0.1:9", "v2", None, service="app", on_step=steps.append,
                            waiter=Waiter(5, 0.01))
    assert (result.outcome, result.previous, result.version) == ("live", "v1", "v2")
    assert result.reason == "v2 is live on 3 tasks"
    assert steps[0] == "rolling app from v1 to v2 (3 tasks, one at a time, start-first); the deploy guard is off"
    assert steps[1:] == [f"  task app.{slot} v2: running" for slot in (1, 2, 3)]
    assert fake.calls[-1] == f"update app image={STACK}/app:v2-222222222222"


def test_the_guards_roll_back_is_the_engines_rollback_only_while_the_previous_spec_is_the_release(
        fake: FakeDriver) -> None:
    """After the autoscaler scaled the service, the engine's previous spec is the new release
    at the old count: the roll back is then an update to the recorded image."""
    v1, v2 = f"{STACK}/app:v1-111111111111", f"{STACK}/app:v2-222222222222"
    fake.update("app", image=v2)
    steps: list[str] = []
    assert rollout._roll_back(fake, "app", v1, "too many errors", steps.append) == "guard"
    assert fake.calls[-1] == "rollback app"
    assert steps == ["too many errors: rolling back"]
    fake.update("app", image=v2)
    fake.update("app", replicas=5)  # the autoscaler, during the guard's watch
    steps.clear()
    rollout._roll_back(fake, "app", v1, "too many errors", steps.append)
    assert fake.calls[-1] == f"update app image={v1}"
    assert (fake.svcs["app"].image, fake.svcs["app"].replicas) == (v1, 5)  # the release back, the count kept
    assert steps[1].startswith("  the service changed since the deploy: an update back to")


@dataclass
class LastReading:
    def describe(self) -> str:
        return "a reading"


class ScalingGuard:
    """A guard stand-in: the autoscaler scales the service once the rollout completed; the guard
    then sees a breach (`breach_after_scale`) or nothing wrong."""

    def __init__(self, fake: FakeDriver, watch_after_s: float, breach_after_scale: bool) -> None:
        self.fake, self.policy = fake, rollout.GuardPolicy(watch_after_s=watch_after_s)
        self.breach_after_scale = breach_after_scale
        self.last = LastReading()
        self.queries: dict[str, str] = {}

    def check(self) -> str:
        if self.fake.svcs["app"].replicas != 3:
            return "errors over 5 %" if self.breach_after_scale else ""
        if self.fake.svcs["app"].update_state == "completed":
            self.fake.update("app", replicas=5)  # the autoscaler; the engine clears its update status
        return ""

    def no_verdict(self) -> str:
        return ""


def test_a_guard_roll_back_after_a_scale_ends_rolled_back_on_the_release_with_the_count(
        fake: FakeDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollout, "Guard",
                        lambda prometheus, version, policy: ScalingGuard(fake, 60, breach_after_scale=True))
    steps: list[str] = []
    result = rollout.deploy(fake, "http://127.0.0.1:9", "v2", rollout.GuardPolicy(), service="app",
                            on_step=steps.append, waiter=Waiter(5, 0.01))
    assert (result.outcome, result.rolled_back_by, result.reason) == ("rolled-back", "guard", "errors over 5 %")
    assert result.restored_s is not None
    assert "rollback app" not in fake.calls
    assert (fake.svcs["app"].image, fake.svcs["app"].replicas) == (f"{STACK}/app:v1-111111111111", 5)


def test_a_rollout_that_never_ends_times_out_with_the_logs(fake: FakeDriver) -> None:
    with pytest.raises(InfrastructureError) as raised:
        rollout.deploy(fake, "http://127.0.0.1:9", "v2-stuck", None, service="app", on_step=lambda _s: None,
                       timeout=0.2, waiter=Waiter(0.2, 0.01))
    assert raised.value.message == "the deploy of v2-stuck did not finish within 0.2 s (Swarm's state: updating)"
    assert raised.value.details == ["app: a log line"]


def test_a_deploy_while_another_runs_is_refused(fake: FakeDriver) -> None:
    fake.svcs["app"] = replace(fake.svcs["app"], update_state="updating")
    with pytest.raises(InfrastructureError, match="app is already updating"):
        rollout.deploy(fake, "http://127.0.0.1:9", "v2", None, service="app", on_step=lambda _s: None)
    assert not [c for c in fake.calls if c.startswith("update")]


def test_up_names_the_crashing_service_first_with_its_logs() -> None:
    settings = Settings(up_timeout=0.1, poll_interval=0.02)
    fake = FakeDriver(STACK, services={name: 1 for name in declared_services(settings.stack_dir)})
    fake.task_states["db1"] = [TaskInfo("t1", 1, "img", "failed", "running", "task: non-zero exit (1)")]
    fake.task_states["app"] = [TaskInfo("t2", 1, "img", "starting", "running", "unhealthy container")]
    with pytest.raises(NotReady) as raised:
        lifecycle.wait_until_healthy(fake, settings, DevsimStack(), quiet())
    assert raised.value.message == ("service 'db1' did not become healthy within 0 s (0/1 ready; last task error: "
                                    "task: non-zero exit (1)); also not healthy: app")
    assert raised.value.details == ["db1: a log line"]


def test_down_removes_the_stack_and_waits_until_nothing_is_left(fake: FakeDriver) -> None:
    assert lifecycle.down(fake, Settings(), DevsimStack(), quiet()) == ["1 services"]
    assert "remove" in fake.calls
    assert fake.leftovers(volumes=False) == {"services": 0, "containers": 0, "networks": 0}
    assert lifecycle.down(fake, Settings(), DevsimStack(), quiet()) == []  # nothing up: nothing to say


def test_down_volumes_keeps_the_volumes_named_to_keep_and_waits_for_the_rest(fake: FakeDriver) -> None:
    lifecycle.down(fake, Settings(), DevsimStack(), quiet(), volumes=True, keep=["backup-repo2"])
    assert "remove_volumes keep backup-repo2" in fake.calls
    assert fake.volumes() == [f"{STACK}_backup-repo2"]
    assert fake.leftovers(volumes=True, keep=["backup-repo2"])["volumes"] == 0
    lifecycle.down(fake, Settings(), DevsimStack(), quiet(), volumes=True)  # asked for by name: it goes too
    assert fake.volumes() == []


def test_the_target_keeps_only_the_offsite_repository_by_default() -> None:
    assert DevsimStack().kept_volumes == {"offsite": "backup-repo2"}
    assert "backup-repo2:" in (Settings().stack_dir / "stack.yml").read_text()  # a volume the stack has


def test_an_unchanged_image_is_not_built_again(fake: FakeDriver) -> None:
    fake.add_image(images.BASE_IMAGE, "sha256:" + "b" * 64)
    settings = Settings()
    first = images.build_images(fake, stack_images(STACK), settings.stack_dir, quiet())
    built = [c for c in fake.calls if c.startswith("build ")]
    assert len(built) == len(stack_images(STACK))
    assert images.build_images(fake, stack_images(STACK), settings.stack_dir, quiet()) == first
    assert [c for c in fake.calls if c.startswith("build ")] == built  # no build the second time


def test_up_puts_back_the_image_stack_yml_names(fake: FakeDriver) -> None:
    """`docker stack deploy` keeps an image `docker service update --image` set; `up` does not."""
    fake.svcs["app"] = replace(fake.svcs["app"], image=f"{STACK}/app:v2-222222222222")  # after `deploy v2`
    env = {"APP_IMAGE": f"{STACK}/app:v1-111111111111"}
    assert lifecycle.put_back_images(fake, Settings(), env, quiet()) == ["app"]
    assert fake.calls[-1] == f"update app image={STACK}/app:v1-111111111111"
    assert fake.svcs["app"].image == f"{STACK}/app:v1-111111111111"
    assert lifecycle.put_back_images(fake, Settings(), env, quiet()) == []  # nothing to put back


def test_up_puts_back_the_release_a_deploy_replaced_with_the_engines_rollback(fake: FakeDriver) -> None:
    fake.update("app", image=f"{STACK}/app:v2-222222222222")  # `devsim deploy v2`
    env = {"APP_IMAGE": f"{STACK}/app:v1-111111111111"}
    assert lifecycle.put_back_images(fake, Settings(), env, quiet()) == ["app"]
    assert fake.calls[-1] == "rollback app"
    assert fake.svcs["app"].image == f"{STACK}/app:v1-111111111111"


def test_published_ports_are_fenced_to_loopback_unless_the_user_opts_out(fake: FakeDriver) -> None:
    settings = Settings(lb_port=18080, lb_tls_port=18443, prometheus_port=19090, pushgateway_port=19091,
                        mailsink_port=18025)
    lifecycle.fence_ports(fake, settings, quiet())
    assert fake.fenced_ports() == {"iptables": [18025, 18080, 18443, 19090, 19091]}
    stream = io.StringIO()
    lifecycle.fence_ports(fake, settings.replace(bind="0.0.0.0"), Progress(stream=stream))
    assert fake.fenced_ports() == {}
    assert "DEVSIM_BIND=0.0.0.0: the published ports answer on every interface" in stream.getvalue()
    lifecycle.fence_ports(fake, settings, quiet())
    lifecycle.down(fake, settings, DevsimStack(), quiet())
    assert fake.fenced_ports() == {}
    assert fake.calls[-1] == "unfence"


def test_a_bind_address_other_than_loopback_or_every_interface_is_refused() -> None:
    from harness.config import load_settings
    from harness.errors import ConfigError

    assert load_settings({"DEVSIM_BIND": "0.0.0.0"}).bind == "0.0.0.0"
    assert load_settings({}).bind == "127.0.0.1"
    with pytest.raises(ConfigError, match=r"DEVSIM_BIND='192\.168\.1\.5'"):
        load_settings({"DEVSIM_BIND": "192.168.1.5"})


def test_a_scale_after_the_rollout_completed_leaves_the_deploy_live(
        fake: FakeDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found on the stack: the autoscaler scaled in the guard's watch, the engine's update status
    went, and the deploy waited for a rollout it read as never started."""
    monkeypatch.setattr(rollout, "Guard",
                        lambda prometheus, version, policy: ScalingGuard(fake, 0.05, breach_after_scale=False))
    result = rollout.deploy(fake, "http://127.0.0.1:9", "v2", rollout.GuardPolicy(), service="app",
                            on_step=lambda _s: None, waiter=Waiter(5, 0.01))
    assert fake.svcs["app"].update_state == ""
    assert (result.outcome, result.replicas_while_updating) == ("live", 3)
    assert result.reason.startswith("v2 is live on 5 tasks")
