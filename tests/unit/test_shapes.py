"""Load shapes (issue #33): the built-ins and the table a user writes, checked before any
load is sent (one line, exit 2 through UsageError), and the plain Locust shape that follows
them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import PROJECT_ROOT
from harness.errors import UsageError
from harness.load import shapes
from harness.load.shapes import Stage


def test_a_table_gives_its_stages_with_durations_comments_and_phases() -> None:
    table = "# base, a spike, back\n30s 10 5 base\n\n20s 40 20.5 spike  # the peak\n1m30s 10 5\n"
    assert shapes.parse_table(table, "t.txt") == [Stage(30, 10, 5, "base"), Stage(20, 40, 20.5, "spike"),
                                                  Stage(90, 10, 5, "stage-3")]


@pytest.mark.parametrize(("table", "message"), [
    ("", "t.txt: no stage (a line is 'duration users spawn-rate [phase]')"),
    ("30s 10", "t.txt, line 1: a stage is 'duration users spawn-rate [phase]', got '30s 10'"),
    ("thirty 10 5", "t.txt, line 1: 'thirty' is not a duration (e.g. 30s, 2m, 1h)"),
    ("30s ten 5", "t.txt, line 1: users must be a whole number, got 'ten'"),
    ("30s -1 5", "t.txt, line 1: users must be a whole number, got '-1'"),
    ("30s 10 fast", "t.txt, line 1: the spawn rate must be a number, got 'fast'"),
    ("30s 10 nan", "t.txt, line 1: the spawn rate must be above 0 and at most 1000 a second, got nan"),
    ("30s 10 inf", "t.txt, line 1: the spawn rate must be above 0 and at most 1000 a second, got inf"),
    ("30s 10 0", "t.txt, line 1: the spawn rate must be above 0 and at most 1000 a second, got 0"),
    ("10s 1 1\n30s 2001 5", "t.txt, line 2: users must be between 0 and 2000, got 2001"),
    ("0s 10 5", "t.txt, line 1: a stage lasts more than 0 s and at most 86400 s"),
    ("30s 10 5 Spike!", "t.txt, line 1: a phase is a lowercase name (a-z, 0-9, '-', '_'), got 'Spike!'"),
    ("20h 10 5\n5h 10 5", "t.txt: the shape lasts 90000 s, more than 86400 s"),
])
def test_a_table_that_is_not_one_is_refused_naming_the_line(table: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        shapes.parse_table(table, "t.txt")
    assert str(raised.value) == message


def test_a_file_that_is_not_text_or_not_there_is_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "shape.bin"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(UsageError) as raised:
        shapes.read_table(binary)
    assert str(raised.value).startswith(f"cannot read the shape table {binary}: ")
    with pytest.raises(UsageError) as raised:
        shapes.read_table(tmp_path / "missing.txt")
    assert str(raised.value).startswith(f"cannot read the shape table {tmp_path / 'missing.txt'}: ")


def test_the_built_ins_peak_at_the_users_and_last_the_run_time() -> None:
    for name in ("ramp", "step", "spike", "soak"):
        stages = shapes.built_in(name, 40, 120)
        assert sum(s.seconds for s in stages) == pytest.approx(120), name
        assert max(s.users for s in stages) == 40, name
    assert [(p, a, b) for p, a, b in shapes.phases(shapes.built_in("spike", 40, 100))] == [
        ("base", 0, 30), ("spike", 30, 50), ("recovery", 50, 100)]
    assert [s.users for s in shapes.built_in("step", 40, 120)] == [10, 20, 30, 40]
    with pytest.raises(UsageError) as raised:
        shapes.built_in("spiky", 40, 120)
    assert str(raised.value) == "unknown load shape 'spiky' (one of: ramp, soak, spike, step, or --shape-file)"


def test_the_stage_at_a_moment_and_none_after_the_end() -> None:
    stages = [Stage(10, 5, 5, "a"), Stage(5, 20, 20, "b")]
    assert shapes.at(stages, 0) == stages[0]
    assert shapes.at(stages, 9.99) == stages[0]
    assert shapes.at(stages, 10) == stages[1]
    assert shapes.at(stages, 15) is None
    assert shapes.phases([Stage(10, 5, 5, "a"), Stage(5, 20, 20, "a"), Stage(1, 1, 1, "b")]) == [
        ("a", 0, 15), ("b", 15, 16)]


# Locust patches the standard library with gevent when imported; after another test made an
# SSL context in this process that patch recurses without end, so the shape runs in a child.
SHAPE_TICKS = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.unit.scripts import load_script
shape = load_script("loadtests/shapes.py", "devsim_shapes").DevsimShape()
moments = iter([0.0, 9.9, 10.0, 14.9, 15.0])
shape.get_run_time = lambda: next(moments)
print(json.dumps([[shape.tick(), shape.phase] for _ in range(5)]))
"""


def test_the_locust_shape_follows_the_stages_and_stops_after_the_last(tmp_path: Path) -> None:
    env = {**os.environ, shapes.LOG_ENV: str(tmp_path / shapes.LOG),
           shapes.ENV: shapes.to_env([Stage(10, 5, 2.5, "base"), Stage(5, 20, 20, "spike")])}
    done = subprocess.run([sys.executable, "-c", SHAPE_TICKS, str(PROJECT_ROOT)], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[[5, 2.5], "base"], [[5, 2.5], "base"], [[20, 20.0], "spike"],
                                       [[20, 20.0], "spike"], [None, "spike"]]
    # a line at each phase change, for the SLOs of a phase
    assert [line.split(",")[1:] for line in (tmp_path / shapes.LOG).read_text().splitlines()] == [
        ["base", "5"], ["spike", "20"]]


def devsim_load(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock", "DEVSIM_LB_URL": "http://127.0.0.1:9"}
    return subprocess.run([sys.executable, "-m", "harness.cli", "load", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize(("args", "error"), [
    (["--shape-file", "{table}"], "devsim: error: {table}, line 2: users must be a whole number, got 'many'"),
    (["--shape", "spike", "--shape-file", "{table}"], "devsim: error: --shape and --shape-file: give one"),
    (["--shape", "spike", "--run-time", "2h"],
     "devsim: error: the load shape lasts 7200 s; devsim load runs at most 3600 s"),
    (["--rate-per-user", "-1"], "devsim: error: --rate-per-user must be above 0 and at most 100 requests a second, "
                                "got -1"),
    (["--rate-per-user", "inf"], "devsim: error: --rate-per-user must be above 0 and at most 100 requests a "
                                 "second, got inf"),
])
def test_a_bad_shape_is_one_line_and_exit_2_before_any_load(tmp_path: Path, args: list[str], error: str) -> None:
    table = tmp_path / "shape.txt"
    table.write_text("30s 10 5 base\n20s many 20 spike\n")
    done = devsim_load(*[a.format(table=table) for a in args])
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == error.format(table=table)
    assert "Traceback" not in done.stderr


def test_an_unknown_shape_name_is_refused_by_the_parser() -> None:
    done = devsim_load("--shape", "spiky")
    assert done.returncode == 2
    assert "argument --shape: invalid choice: 'spiky'" in done.stderr


def test_a_shaped_plan_loads_the_shape_file_beside_the_locustfile(tmp_path: Path) -> None:
    from harness.load.runner import LoadPlan, locust_argv

    plan = LoadPlan(locustfile=tmp_path / "locustfile.py", host="https://127.0.0.1:8443", users=40, spawn_rate=10,
                    run_time=100, run_dir=tmp_path, run_id="r", shape=shapes.to_env([Stage(100, 40, 10, "soak")]))
    argv = locust_argv(plan)
    assert argv[argv.index("-f") + 1] == f"{tmp_path / 'locustfile.py'},{PROJECT_ROOT / 'loadtests' / 'shapes.py'}"
    plain = locust_argv(LoadPlan(locustfile=tmp_path / "locustfile.py", host="h", users=1, spawn_rate=1,
                                 run_time=1, run_dir=tmp_path, run_id="r"))
    assert plain[plain.index("-f") + 1] == str(tmp_path / "locustfile.py")



def test_the_arrival_rate_intended_is_the_users_over_time_and_the_achieved_the_requests_over_it() -> None:
    from harness.load.session import LoadOptions, arrival_rate

    assert arrival_rate(LoadOptions(users=10), 600, 60) == {}  # no rate: as fast as the answers come
    assert arrival_rate(LoadOptions(users=10, rate_per_user=2.0), 1080, 60) == {"intended_rps": 20.0,
                                                                               "achieved_rps": 18.0}
    # a shape: 30 s of 10 users and 10 s of 50, each user at 1 a second: (300 + 500) / 40 = 20 a second
    shaped = LoadOptions(users=50, rate_per_user=1.0, shape=(Stage(30, 10, 10, "base"), Stage(10, 50, 50, "spike")))
    assert arrival_rate(shaped, 720, 40.0) == {"intended_rps": 20.0, "achieved_rps": 18.0}


def test_the_locustfile_paces_each_user_at_the_rate_it_is_given() -> None:
    """In a process of its own: importing Locust patches the standard library (gevent)."""
    probe = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('lf', sys.argv[1]); "
             "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
             "w = m.StackClient.wait_time; "
             "print(w.__qualname__, sorted(c.cell_contents for c in w.__closure__ or () "
             "if isinstance(c.cell_contents, float)))")
    locustfile = str(PROJECT_ROOT / "loadtests" / "locustfile.py")

    def pacing(**env: str) -> str:
        done = subprocess.run([sys.executable, "-c", probe, locustfile], capture_output=True, text=True, timeout=120,
                              check=True, env={**{k: v for k, v in os.environ.items() if k != "DEVSIM_RATE_PER_USER"},
                                               **env})
        return done.stdout.strip()

    # Locust's constant_throughput(4) is constant_pacing(0.25): a task started every 0.25 s
    assert pacing(DEVSIM_RATE_PER_USER="4") == "constant_pacing.<locals>.wait_time_func [0.25]"
    assert pacing() == "between.<locals>.<lambda> [0.05, 0.15]"
