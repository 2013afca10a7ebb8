from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import build_parser, main
from harness.errors import CommandFailed, HarnessError


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env, capture_output=True, text=True,
                          check=False, timeout=120)


COMMANDS = ["up", "status", "down", "load", "run", "validate", "deploy", "report"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert command in capsys.readouterr().out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["up", "--replicas", "three"])
    assert exit_info.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


def test_invalid_replicas_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--replicas", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "devsim: error: replicas must be between 1 and 10, got 0"


def test_unreachable_docker_is_one_clear_line() -> None:
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "status"], env=env,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("devsim: error: cannot reach the Docker engine")
    assert "Traceback" not in done.stderr


def test_verbose_shows_the_traceback() -> None:
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "--verbose", "status"], env=env,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 2
    assert "Traceback" in done.stderr


def test_command_failed_keeps_the_command_and_its_output() -> None:
    err = CommandFailed(["docker", "stack", "deploy"], 1, "", "first\nnetwork not found\n")
    assert err.one_line() == "`docker stack deploy` exited 1: network not found"
    assert err.details == ["first", "network not found"]
    assert isinstance(err, HarnessError)
    assert err.exit_code == 2


@pytest.mark.parametrize(("args", "message"), [
    (["deploy", "v2", "--max-error-ratio", "2"], "--max-error-ratio must be between 0 and 1"),
    (["deploy", "v2", "--max-p95", "fast"], "fast"),
    (["deploy", "v2", "--watch-after", "soon"], "--watch-after: bad duration 'soon'"),
    (["deploy", "v2", "--p95-for", "a while"], "--p95-for: bad duration 'a while' (use e.g. 30s, 2m or 1h30m)"),
])
def test_bad_deploy_options_are_refused_before_anything_happens(args: list[str], message: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("devsim: error: ")
    assert message in err
    assert "Traceback" not in err


def test_a_mistyped_switch_is_one_line_naming_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--set", "LB_HEALTHCHEKS=no-check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("devsim: error: unknown switch 'LB_HEALTHCHEKS'; the stack's switches are: ")
    assert "LB_HEALTH_CHECKS" in err[0]


def test_run_with_docker_unreachable_is_one_line_and_exit_2() -> None:
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")
    done = run_cli("run", "--no-up", "experiments/app-instance-crash.yaml", env=env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("devsim: error: cannot reach the Docker engine: ")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("content", ["{}", '{"run_id": "x"}', '{"run_id": "x", "status": "maybe"}', "[1, 2]"])
def test_report_on_a_folder_that_is_not_a_run_exits_2_and_records_nothing(tmp_path: Path, content: str) -> None:
    run = tmp_path / "not-a-run"
    run.mkdir()
    (run / "verdict.json").write_text(content)
    reports = tmp_path / "reports"
    done = run_cli("report", str(run), env=dict(os.environ, DEVSIM_REPORTS_DIR=str(reports)))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[0] == (
        f"devsim: error: {run / 'verdict.json'} is not a devsim run's verdict.json: it needs a run_id and a status "
        "(passed, failed, error, aborted)")
    assert not (reports / "history.sqlite").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["up", "--profile", "developmnet"], "devsim up: error: argument --profile: invalid choice: 'developmnet'"),
    (["up", "--profile", "development", "--replicas", "3"],
     "devsim: error: --profile development runs one app instance with no switches; it takes no --replicas"),
    (["up", "--profile", "development", "--set", "LB_RETRIES=0"],
     "devsim: error: --profile development runs one app instance with no switches; it takes no --set"),
    (["up", "--replicsa", "3"], "devsim: error: unrecognized arguments: --replicsa 3"),
    # an abbreviation is a typo, not the option it starts: argparse would take --prov as --prove
    (["run", "--prov", "experiments/app-instance-crash.yaml"], "devsim: error: unrecognized arguments: --prov"),
    (["load", "--user", "3"], "devsim: error: unrecognized arguments: --user"),
])
def test_a_profile_it_cannot_take_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = run_cli(*args, env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(message), lines[0]


@pytest.mark.parametrize(("args", "line"), [
    (["run", "--kep-up", "x.yaml"], "devsim: error: unrecognized arguments: --kep-up; did you mean --keep-up? "
                                    "(see `devsim --help`)"),
    (["down", "--volume"], "devsim: error: unrecognized arguments: --volume; did you mean --volumes? "
                           "(see `devsim --help`)"),
    (["load", "--usres=3", "--run-tmie", "5s"], "devsim: error: unrecognized arguments: --usres=3 --run-tmie; "
                                                "did you mean --users, --run-time? (see `devsim --help`)"),
    (["up", "--zzz"], "devsim: error: unrecognized arguments: --zzz (see `devsim --help`)"),  # nothing near it
    # only the options of the command given: --volumes is down's, not up's
    (["up", "--volume"], "devsim: error: unrecognized arguments: --volume (see `devsim --help`)"),
])
def test_a_mistyped_option_is_answered_with_the_nearest_one(args: list[str], line: str) -> None:
    done = run_cli(*args, env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert (done.returncode, done.stderr) == (2, line + "\n")


def test_an_unexpected_exception_is_one_line_and_exit_2_not_1(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 1 means "a claim failed"; a bug must never read as that."""
    from harness import cli

    def broken(ctx: object, args: object) -> int:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setitem(cli._COMMANDS, "validate", broken)
    assert main(["validate", "x.yaml"]) == 2
    assert capsys.readouterr().err == ("devsim: error: this is a bug: RecursionError: maximum recursion depth "
                                       "exceeded (--verbose shows the traceback)\n")
    assert main(["--verbose", "validate", "x.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("devsim: error: this is a bug: RecursionError: maximum recursion depth exceeded\n")
    assert "Traceback (most recent call last)" in err
