"""The scaler-gate's group is read from the engine's socket on the host (harness/target/devsim.py):
a real unix socket in a temporary folder, its group set as root can."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.target.devsim import engine_socket_gid


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(path))
        yield path


def test_the_gid_is_the_sockets_group(unix_socket: Path) -> None:
    os.chown(unix_socket, -1, 4321)
    assert engine_socket_gid(unix_socket) == 4321


def test_a_socket_of_root_s_group_is_refused(unix_socket: Path) -> None:
    os.chown(unix_socket, -1, 0)
    with pytest.raises(ConfigError, match="belongs to group root"):
        engine_socket_gid(unix_socket)


def test_no_socket_or_a_plain_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs the engine's socket at .*missing.sock: No such file"):
        engine_socket_gid(tmp_path / "missing.sock")
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(ConfigError, match="is not a socket"):
        engine_socket_gid(plain)
