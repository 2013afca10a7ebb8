from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import Settings, load_settings, parse_overrides, validate
from harness.errors import ConfigError
from harness.stack import switches


def test_defaults_point_at_the_shipped_stack() -> None:
    settings = load_settings({})
    assert (settings.stack_dir / "stack.yml").is_file()
    assert settings.label == "devsim.stack=devsim"
    assert settings.lb_url == "https://127.0.0.1:8443"  # HTTPS at the edge
    assert settings.lb_plain_url == "http://127.0.0.1:8080"  # which redirects there
    assert settings.replace(tls=False).lb_url == "http://127.0.0.1:8080"  # the development profile's app
    assert settings.published_ports == (8080, 8443, 9090, 9091, 8025)


def test_environment_overrides_defaults() -> None:
    settings = load_settings({"DEVSIM_LB_PORT": "18080", "DEVSIM_REPLICAS": "2", "DEVSIM_STACK": "other"})
    assert (settings.lb_port, settings.replicas, settings.label) == (18080, 2, "devsim.stack=other")


def test_a_port_block_moves_every_port_no_variable_names() -> None:
    settings = load_settings({"DEVSIM_STACK": "second", "DEVSIM_PORT_BLOCK": "2"})
    assert settings.published_ports == (28080, 28443, 29090, 29091, 28025)
    named = load_settings({"DEVSIM_PORT_BLOCK": "3", "DEVSIM_PROMETHEUS_PORT": "9999"})
    assert named.published_ports == (38080, 38443, 9999, 39091, 38025)
    assert load_settings({"DEVSIM_PORT_BLOCK": "0"}).published_ports == (8080, 8443, 9090, 9091, 8025)
    assert load_settings({"DEVSIM_PORT_BLOCK": ""}).published_ports == (8080, 8443, 9090, 9091, 8025)
    assert load_settings({"DEVSIM_PORT_BLOCK": "5"}).published_ports == (58080, 58443, 59090, 59091, 58025)


@pytest.mark.parametrize(("block", "message"), [("6", r"DEVSIM_PORT_BLOCK='6': a block from 0 to 5"),
                                                ("-1", r"DEVSIM_PORT_BLOCK='-1': a block from 0 to 5"),
                                                ("two", r"DEVSIM_PORT_BLOCK='two' is not a valid int")])
def test_a_port_block_out_of_range_names_the_variable(block: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"DEVSIM_PORT_BLOCK": block})


def test_a_second_stack_keeps_its_runs_in_a_folder_of_its_own() -> None:
    default = load_settings({})
    assert default.reports_dir.name == "reports"
    assert load_settings({"DEVSIM_STACK": "team2"}).reports_dir == default.reports_dir / "team2"
    assert load_settings({"DEVSIM_STACK": "devsim"}).reports_dir == default.reports_dir
    chosen = load_settings({"DEVSIM_STACK": "team2", "DEVSIM_REPORTS_DIR": "/tmp/elsewhere"})
    assert chosen.reports_dir == Path("/tmp/elsewhere")


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"DEVSIM_LB_PORT='eighty' is not a valid int"):
        load_settings({"DEVSIM_LB_PORT": "eighty"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"replicas": 0}, "replicas must be between 1 and 10"),
        ({"lb_port": 70000}, "lb_port must be a TCP port"),
        ({"prometheus_port": 8080}, "ports must differ"),
        ({"pushgateway_port": 9090}, "ports must differ"),
        ({"stack": "bad name!"}, "stack name 'bad name!' must be 1 to 32 lower-case letters, digits and '-'"),
        ({"stack": "Devsim"}, "stack name 'Devsim' must be"),  # names images, which must be lower case
        ({"stack": "dévsim"}, "stack name 'dévsim' must be"),  # str.isalnum() let this through
        ({"stack": "-devsim"}, "stack name '-devsim' must be"),
        ({"stack": "a" * 33}, "must be 1 to 32"),
        ({"stack_dir": Path("/nonexistent")}, "no stack.yml"),
    ],
)
def test_invalid_settings_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate(Settings().replace(**changes))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lower": "x"}, "unknown switch 'lower'"),
        ({"LB_HEALTHCHEKS": "no-check"}, "unknown switch 'LB_HEALTHCHEKS'; the stack's switches are: "
                                         "ALERT_PROFILE, APP_DB_POOL_MAX, "),
        ({"LB_HEALTH_CHECKS": "off"}, r"switch LB_HEALTH_CHECKS must be check\|no-check, got 'off'"),
    ],
)
def test_unknown_or_invalid_switches_are_refused(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        switches.check(switches.load(Settings().stack_dir), overrides)


def test_replace_skips_none() -> None:
    assert Settings().replace(replicas=None).replicas == Settings().replicas


def test_overrides_parse_key_value_pairs() -> None:
    assert parse_overrides(["A=1", "B=x=y", "C="]) == (("A", "1"), ("B", "x=y"), ("C", ""))
    with pytest.raises(ConfigError, match="expects KEY=VALUE"):
        parse_overrides(["novalue"])


def test_a_stack_name_at_the_limits_is_taken() -> None:
    for name in ("a", "devsim-2", "a" * 32, "0stack"):
        validate(Settings().replace(stack=name))
