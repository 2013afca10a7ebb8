"""Destructive commands ask before they delete (issue #32): `down --volumes` and `restore`."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from harness.confirm import confirm
from harness.errors import UsageError


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def never() -> list[str]:
    raise AssertionError("what will go is asked only on a terminal")


def test_without_a_terminal_it_needs_yes_and_touches_nothing() -> None:
    with pytest.raises(UsageError) as raised:
        confirm("devsim down --volumes", never, yes=False, stdin=io.StringIO("yes\n"), stderr=io.StringIO())
    assert str(raised.value) == ("devsim down --volumes: there is no terminal to ask on; pass --yes to confirm "
                                 "(nothing was removed)")
    confirm("devsim down --volumes", never, yes=True)  # --yes: no question


@pytest.mark.parametrize(("typed", "agreed"), [("yes\n", True), ("YES \n", True), ("y\n", False), ("\n", False),
                                               ("", False), ("no\n", False)])
def test_on_a_terminal_it_lists_what_goes_and_takes_only_yes(typed: str, agreed: bool) -> None:
    shown = io.StringIO()
    ask = lambda: confirm("devsim restore", lambda: ["volume devsim_db1-data", "3 secrets and configs"],  # noqa: E731
                          yes=False, stdin=Terminal(typed), stderr=shown)
    if agreed:
        ask()
    else:
        with pytest.raises(UsageError) as raised:
            ask()
        assert str(raised.value) == "devsim restore: not confirmed (nothing was removed)"
    assert shown.getvalue() == ("devsim restore will delete:\n  - volume devsim_db1-data\n  - 3 secrets and configs\n"
                                "Type yes to go on: ")


@pytest.mark.parametrize("argv", [["down", "--volumes"], ["restore", "--to", "latest"]])
def test_the_commands_refuse_without_a_terminal_before_reaching_the_engine(argv: list[str]) -> None:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}  # any engine call would fail otherwise
    done = subprocess.run([sys.executable, "-m", "harness.cli", *argv], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60, check=False)
    action = "devsim down --volumes" if argv[0] == "down" else "devsim restore"
    assert (done.returncode, done.stderr) == (
        2, f"devsim: error: {action}: there is no terminal to ask on; pass --yes to confirm (nothing was removed)\n")


def test_offsite_without_volumes_is_refused_before_reaching_the_engine() -> None:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "down", "--offsite"], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (2, "devsim: error: --offsite removes a volume: give it with --volumes\n")
    done = subprocess.run([sys.executable, "-m", "harness.cli", "down", "--volumes", "--offsite"], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (2, "devsim: error: devsim down --volumes --offsite: there is no "
                                                 "terminal to ask on; pass --yes to confirm (nothing was removed)\n")
