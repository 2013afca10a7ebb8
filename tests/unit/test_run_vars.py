"""--var and --var-file: what a run's configuration may and may not take from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import Settings
from harness.errors import UsageError
from harness.experiment.run import configuration, parse_vars


@pytest.mark.parametrize("key", ["devsim_stack", "lb_url", "prometheus_url", "mailsink_url", "request_log",
                                 "devsim_ca_file"])
def test_a_variable_cannot_re_aim_the_run(key: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_vars([f"{key}=other"], [])
    assert str(raised.value) == (f"--var {key}: the harness sets it from its settings (DEVSIM_*), for the stack it "
                                 "runs against; a variable cannot re-aim the run")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity"])
def test_an_endless_number_is_refused(value: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_vars([f"delay_ms={value}"], [])
    assert str(raised.value) == f"--var delay_ms={value}: a number must be finite"


def test_the_harness_keys_win_over_any_variable(tmp_path: Path) -> None:
    """Even a variable that got past parse_vars (a library caller) cannot re-aim the run."""
    found = configuration(Settings(), tmp_path, {"devsim_stack": "other", "replicas_cut_off_s": "8"})
    assert (found["devsim_stack"], found["replicas_cut_off_s"]) == ("devsim", "8")
    assert found["request_log"] == str(tmp_path / "requests.csv")


def test_ordinary_variables_pass() -> None:
    assert parse_vars(["replicas_cut_off_s=8", "name=nancy"], []) == {"replicas_cut_off_s": "8", "name": "nancy"}
