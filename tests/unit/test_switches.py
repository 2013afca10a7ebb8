"""The stack's switches: declared once, checked before a deploy, read back from the stack."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.config import PROJECT_ROOT, Settings
from harness.driver import ServiceInfo
from harness.errors import ConfigError
from harness.stack import lifecycle, switches
from harness.target import patroni, secrets, tls
from harness.target.devsim import DevsimStack

STACK_DIR = PROJECT_ROOT / "target-stack"
DECLARED = switches.load(STACK_DIR)


def stack_yml_defaults() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, default in re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", (STACK_DIR / "stack.yml").read_text()):
        found.setdefault(name, set()).add(default)
    return found


def test_each_declared_default_is_the_one_stack_yml_ships() -> None:
    in_file = stack_yml_defaults()
    for name, switch in DECLARED.items():
        if "service" in switch.source:
            assert in_file.get(name) == {switch.default}, name
        else:  # Patroni's dynamic configuration, set by the harness after the deploy
            assert name not in in_file
            assert name in patroni.SWITCHES
            assert switch.default == patroni.SWITCHES[name][0]


def test_every_mechanism_variable_of_stack_yml_is_a_switch() -> None:
    """Anything in stack.yml the harness does not set itself is a declared switch or a secret
    (issue 16): nothing else can be changed from outside."""
    set_by_harness = {"DEVSIM_STACK", "APP_REPLICAS", "LB_PORT", "LB_TLS_PORT", "PROMETHEUS_PORT", "PUSHGATEWAY_PORT",
                      "MAILSINK_PORT", "DOCKER_SOCKET_GID", "APP_DEPLOY_REPLICAS",
                      # up's first, fast pass only; its second leaves them at stack.yml's defaults
                      "APP_UPDATE_PARALLELISM", "APP_UPDATE_DELAY", "APP_UPDATE_MONITOR"}
    # the engine's names of the secrets and of the TLS files
    secret_names = {secrets.env_name(n) for n in secrets.SECRETS} | set(tls.ENV_NAMES)
    rest = {n for n in stack_yml_defaults() if not n.endswith("_IMAGE")} - set_by_harness - secret_names
    assert rest == {n for n, s in DECLARED.items() if "service" in s.source}


@pytest.mark.parametrize(("value", "ok"), [("0", True), ("10", True), ("3", True), ("11", False), ("-1", False),
                                           ("3.0", False), ("", False), ("three", False)])
def test_integer_switches_take_integers_in_range_boundaries_included(value: str, ok: bool) -> None:
    assert DECLARED["LB_RETRIES"].range == (0, 10)
    assert DECLARED["LB_RETRIES"].allows(value) is ok


def test_a_value_not_listed_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        switches.check(DECLARED, {"APP_UPDATE_ORDER": "random"})
    assert info.value.one_line() == "switch APP_UPDATE_ORDER must be start-first|stop-first, got 'random'"
    with pytest.raises(ConfigError) as info:
        switches.check(DECLARED, {"APP_DB_POOL_MAX": "0"})
    assert info.value.one_line() == "switch APP_DB_POOL_MAX must be an integer from 1 to 100, got '0'"
    switches.check(DECLARED, {"APP_UPDATE_ORDER": "stop-first", "APP_DB_POOL_MAX": "1",
                              "DB_PATRONI_TIMINGS": "default"})


def test_a_typo_names_every_valid_switch() -> None:
    with pytest.raises(ConfigError) as info:
        switches.check(DECLARED, {"LB_HEALTHCHEKS": "no-check"})
    listed = info.value.one_line().split("are: ")[1].split(", ")
    assert listed == sorted(DECLARED)
    assert "LB_HEALTH_CHECKS" in listed


def test_a_variable_left_in_the_shell_never_reaches_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LB_RETRIES", "0")
    monkeypatch.setenv("APP_GRACEFUL_SHUTDOWN", "false")
    monkeypatch.setenv("JWT_SECRET", "from-the-shell")
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    monkeypatch.setattr("harness.target.devsim.engine_socket_gid", lambda: 999)  # no engine needed here
    env = lifecycle.stack_env(Settings(overrides=(("LB_HEALTH_CHECKS", "no-check"),)), DevsimStack(),
                              {"APP_IMAGE": "devsim/app:x"})
    assert env["LB_RETRIES"] == "3"
    assert env["APP_GRACEFUL_SHUTDOWN"] == "true"
    assert "JWT_SECRET" not in env
    assert env["LB_HEALTH_CHECKS"] == "no-check"
    assert env["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert env["APP_IMAGE"] == "devsim/app:x"


def spec(env: dict[str, str], order: str = "start-first", health: list[str] | None = None) -> ServiceInfo:
    return ServiceInfo("app", "devsim_app", "devsim/app:v1", 3, env=env,
                       update_config={"Order": order, "FailureAction": "pause"},
                       healthcheck=tuple(health) if health is not None else None)


def patroni_reader(config: dict[str, Any] | None) -> Callable[[switches.Switch], str | None]:
    """What DevsimStack.switch_reader returns once it has read Patroni's configuration (or not)."""
    return lambda switch: patroni.switch_value(switch.source, config) if config is not None else None


def test_read_back_from_service_specs_and_patroni() -> None:
    specs = {"app": spec({"GRACEFUL_SHUTDOWN": "false", "DB_POOL_MAX": "10", "A": "b=c"}, "stop-first", ["NONE"]),
             "lb": spec({"LB_HEALTH_CHECKS": "check"})}
    config = {"synchronous_mode": False, "ttl": 30, "loop_wait": 10, "retry_timeout": 10}
    found = switches.read_back(DECLARED, specs, patroni_reader(config))
    assert found["APP_GRACEFUL_SHUTDOWN"] == "false"
    assert found["APP_UPDATE_ORDER"] == "stop-first"
    assert found["APP_UPDATE_FAILURE_ACTION"] == "pause"
    assert found["APP_HEALTHCHECK_DISABLE"] == "true"
    assert found["LB_HEALTH_CHECKS"] == "check"
    assert found["LB_RETRIES"] is None  # the spec does not carry it
    assert found["ALERT_PROFILE"] is None  # no alertmanager service
    assert found["DB_SYNCHRONOUS_MODE"] == "off"
    assert found["DB_PATRONI_TIMINGS"] == "default"
    assert switches.differing(DECLARED, found) == {
        "APP_GRACEFUL_SHUTDOWN": "false", "APP_UPDATE_ORDER": "stop-first", "APP_UPDATE_FAILURE_ACTION": "pause",
        "APP_HEALTHCHECK_DISABLE": "true", "DB_SYNCHRONOUS_MODE": "off", "DB_PATRONI_TIMINGS": "default"}
    tuned = switches.read_back(DECLARED, {}, patroni_reader({"synchronous_mode": True, "ttl": 20, "loop_wait": 2,
                                              "retry_timeout": 9}))
    assert (tuned["DB_SYNCHRONOUS_MODE"], tuned["DB_PATRONI_TIMINGS"]) == ("on", "tuned")
    odd = switches.read_back(DECLARED, {}, patroni_reader({"ttl": 25}))
    assert odd["DB_PATRONI_TIMINGS"] == "custom"
    unread = switches.read_back(DECLARED, {"app": spec({}, health=["CMD", "node"])}, patroni_reader(None))
    assert unread["APP_HEALTHCHECK_DISABLE"] == "false"
    assert unread["DB_PATRONI_TIMINGS"] is None  # Patroni did not answer


@pytest.mark.parametrize(("text", "message"), [
    ("X: {default: a, values: [a], read: {service: app, env: X}, range: [1, 2]}", "exactly one of values or range"),
    ("X: {default: c, values: [a, b], read: {service: app, env: X}}", "default 'c' is not one of its values"),
    ("X: {values: [a], read: {service: app, env: X}}", "needs a default and a read"),
    ("X: {default: a, values: [a], read: {service: app, port: 1}}",
     "switch X reads service app but none of env, update, healthcheck"),
    ("X: {default: a, values: [a], read: {patroni: timings, etcd: x}}", "or from one source the target stack reads"),
    ("[1, 2]", "must map switch names"),
])
def test_a_bad_declaration_is_refused(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "switches.yml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        switches.load(tmp_path)


def test_no_declaration_means_no_switches(tmp_path: Path) -> None:
    assert switches.load(tmp_path) == {}
