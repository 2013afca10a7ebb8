"""`devsim validate`: every shipped experiment is valid; each kind of mistake is named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.config import PROJECT_ROOT, Settings
from harness.errors import UsageError
from harness.experiment.validate import load, problems, validate
from harness.stack.services import declared_services
from tests.unit.test_cli import run_cli

EXPERIMENTS = sorted((PROJECT_ROOT / "experiments").glob("*.yaml"))
SERVICES = declared_services(Settings().stack_dir)
CRASH = PROJECT_ROOT / "experiments" / "app-instance-crash.yaml"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_every_shipped_experiment_is_valid(path: Path) -> None:
    experiment = validate(path, SERVICES)
    assert experiment["title"]


def test_the_shipped_experiments_are_there() -> None:
    assert {p.stem for p in EXPERIMENTS} >= {
        "app-instance-crash", "rolling-update-zero-downtime", "redis-outage", "db-latency"}


def broken(tmp_path: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    doc = yaml.safe_load(CRASH.read_text())
    change(doc)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def kill_provider(**changes: str) -> Callable[[dict[str, Any]], object]:
    """A change to the kill action's provider: `func=...`, or an argument with `arg_<name>=...`."""
    def change(doc: dict[str, Any]) -> None:
        provider = doc["method"][0]["provider"]
        for key, value in changes.items():
            if key.startswith("arg_"):
                provider["arguments"][key[4:]] = value
            else:
                provider[key] = value
    return change


def first_problem(path: Path) -> str:
    found = problems(path, load(path), SERVICES)
    assert found, "expected a problem"
    return found[0]


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("title: x\nmethod: [\n  - oops: {\n")
    with pytest.raises(UsageError, match=r"bad.yaml: malformed YAML at line \d+"):
        load(path)


def test_unknown_function_names_the_activity(tmp_path: Path) -> None:
    line = first_problem(broken(tmp_path, kill_provider(func="kill_taskz")))
    assert "method activity 'kill-one-app-task'" in line
    assert "kill_taskz" in line


def test_wrong_argument_name_names_the_activity(tmp_path: Path) -> None:
    line = first_problem(broken(tmp_path, kill_provider(arg_servce="app")))
    assert "method activity 'kill-one-app-task'" in line
    assert "servce" in line


def test_unknown_service_names_the_activity(tmp_path: Path) -> None:
    line = first_problem(broken(tmp_path, kill_provider(arg_service="web")))
    assert line.endswith(f"method activity 'kill-one-app-task': the stack has no service 'web' (it has "
                         f"{', '.join(SERVICES)})")


def test_missing_control_is_reported(tmp_path: Path) -> None:
    line = first_problem(broken(tmp_path, lambda doc: doc.pop("controls")))
    assert "declare the control harness.chaos.controls" in line


def test_a_fault_whose_undo_is_not_among_the_rollbacks_is_named(tmp_path: Path) -> None:
    line = first_problem(broken(tmp_path, lambda doc: doc.pop("rollbacks")))
    assert line.endswith("method activity 'kill-one-app-task': its undo wait_until_converged is not among the "
                         "rollbacks")


def test_an_action_of_ours_that_is_no_fault_is_named(tmp_path: Path) -> None:
    path = broken(tmp_path, kill_provider(func="image_for"))
    assert (f"{path}: method activity 'kill-one-app-task': image_for is not a fault the harness knows how to undo"
            in problems(path, load(path), SERVICES))


def test_a_variable_the_configuration_does_not_declare_is_named(tmp_path: Path) -> None:
    doc = yaml.safe_load((PROJECT_ROOT / "experiments" / "failed-deploy-auto-rollback.yaml").read_text())
    del doc["configuration"]["broken_release"]
    path = tmp_path / "undeclared.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert problems(path, load(path), SERVICES) == [
        f"{path}: ${{broken_release}} is used but not declared in the configuration (declare it with a default; "
        "--var sets it)",
        f"{path}: control 'Swarm pauses a failing update instead of rolling it back': variable 'broken_release' is "
        "not in the experiment's configuration"]


def test_cli_validate_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    done = run_cli("validate", str(CRASH), str(broken(tmp_path, kill_provider(func="kill_taskz"))))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines
    assert all(line.startswith("devsim: invalid: ") for line in lines)
    assert "broken.yaml" in lines[0]


def test_cli_validate_accepts_the_shipped_experiments() -> None:
    done = run_cli("validate", *map(str, EXPERIMENTS))
    assert done.returncode == 0, done.stderr
    assert f"{len(EXPERIMENTS)} experiment file(s) valid" in done.stdout


@pytest.mark.parametrize("experiment", ["db-disaster-recovery", "db-point-in-time-recovery"])
def test_the_destructive_faults_are_checked_like_the_others(tmp_path: Path, experiment: str) -> None:
    """Destroying every node's data and deleting rows are faults in the registry: without the
    rollback that restores, validate refuses the experiment (it used to pass them unchecked)."""
    doc = yaml.safe_load((PROJECT_ROOT / "experiments" / f"{experiment}.yaml").read_text())
    doc.pop("rollbacks")
    path = tmp_path / "no-rollback.yaml"
    path.write_text(yaml.safe_dump(doc))
    fault = {"db-disaster-recovery": "destroy-every-database-node",
             "db-point-in-time-recovery": "delete-every-row-before-it-by-mistake"}[experiment]
    assert problems(path, load(path), SERVICES) == [
        f"{path}: method activity '{fault}': its undo restore_db_if_lost is not among the rollbacks"]


def laughs(levels: int) -> str:
    """A "billion laughs" file: each level names the one before nine times."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("laughs.yaml", laughs(9), "line 2: YAML aliases (*a0) are not allowed in an experiment file; write the "
                                   "value out"),
        ("deep.yaml", "title: x\nmethod: " + "[" * 5000 + "]" * 5000 + "\n", "line 2: nested more than 32 levels deep"),
        ("deep.json", '{"title": "x", "method": ' + "[" * 5000 + "]" * 5000 + "}\n",
         "line 1: nested more than 32 levels deep"),
        ("one-level-too-deep.yaml", "title: x\nmethod: " + "[" * 32 + "]" * 32 + "\n",
         "line 2: nested more than 32 levels deep"),  # the mapping is level 1: the lists reach 33
    ],
)
def test_a_hostile_file_is_refused_in_one_line_and_exit_2(tmp_path: Path, name: str, content: str,
                                                          message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    done = run_cli("validate", str(path))
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"devsim: invalid: {path}: {message}\n")


def test_nesting_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "deep-but-fine.yaml"
    path.write_text("title: x\nmethod: " + "[" * 31 + "]" * 31 + "\n")  # 32 levels with the mapping
    inner = load(path)["method"]
    for _ in range(30):
        [inner] = inner
    assert inner == []


def test_a_binary_or_huge_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(UsageError) as raised:
        load(binary)
    assert str(raised.value) == f"{binary}: not a text file (UnicodeDecodeError)"
    huge = tmp_path / "huge.yaml"
    huge.write_text("title: x\n" + "# padding\n" * 100_001)
    with pytest.raises(UsageError) as raised:
        load(huge)
    assert str(raised.value) == f"{huge}: 1000019 bytes; an experiment file is at most 1000000 bytes"


def test_an_endless_number_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, lambda doc: doc["method"][0]["provider"]["arguments"].update(count=float("inf")))
    assert f"{path}: method activity 'kill-one-app-task': argument count must be a finite number, got inf" in \
        problems(path, load(path), SERVICES)
