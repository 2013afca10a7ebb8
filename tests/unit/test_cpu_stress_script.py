"""The CPU stress's own shell commands, run on this machine with the real sh and timeout:
the stop ends every busy loop at once, not at the loops' timeout."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from harness.chaos.faults.stress import start_argv, stop_argv


def loops(marker: Path) -> list[str]:
    """The busy loops of this test's stress: processes in the session whose leader wrote `marker`."""
    if not marker.exists():
        return []
    session = marker.read_text().strip()
    found = subprocess.run(["ps", "-o", "pid=,args=", "-s", session], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "while :" in line]


def test_the_stop_ends_every_loop_long_before_its_timeout(tmp_path: Path) -> None:
    marker = tmp_path / "stress.pid"
    subprocess.run(start_argv(60, 2, str(marker)), check=True, timeout=10)
    deadline = time.monotonic() + 5
    while len(loops(marker)) < 4 and time.monotonic() < deadline:  # per worker: timeout and its sh
        time.sleep(0.1)
    session = marker.read_text().strip()
    assert len(loops(marker)) == 4
    assert subprocess.run(stop_argv(str(marker)), check=False, timeout=10).returncode == 0
    time.sleep(0.5)
    left = subprocess.run(["ps", "-o", "pid=,args=", "-s", session], capture_output=True, text=True, check=False)
    assert [line for line in left.stdout.splitlines() if "while :" in line] == []
    assert not marker.exists()
    assert subprocess.run(stop_argv(str(marker)), check=False, timeout=10).returncode == 3  # nothing to stop
