"""The secret search's new places (issue 32): the arguments of each process, the files
written to a container's layer on disk (harness/driver/layers.py), and the run's folder
(security.secrets_exposed). Against a fake container and the fake engine."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker.errors import NotFound

from harness.chaos import engine, security
from harness.config import PROJECT_ROOT
from harness.driver import driver_for, layers
from harness.progress import Progress
from harness.target import secrets
from tests.unit.fakedriver import FakeDriver

DIRECTORY = 1 << 31  # Go's os.ModeDir, as Docker's archive stat gives it


def tar_of(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


class Layer:
    """A container as the Docker SDK gives it: `diff` and `get_archive`."""

    def __init__(self, changes: list[dict[str, Any]], files: dict[str, bytes], dirs: tuple[str, ...] = ()) -> None:
        self.changes, self.files, self.dirs = changes, files, dirs
        self.asked: list[str] = []

    def diff(self) -> list[dict[str, Any]]:
        return self.changes

    def get_archive(self, path: str) -> tuple[Iterator[bytes], dict[str, Any]]:
        self.asked.append(path)
        if path in self.dirs:
            return iter([b""]), {"size": 4096, "mode": DIRECTORY | 0o755}
        if path not in self.files:
            raise NotFound("gone")
        data = self.files[path]
        return iter([tar_of(Path(path).name, data)]), {"size": len(data), "mode": 0o600}


def test_each_file_added_or_changed_is_read_and_directories_deleted_and_large_files_are_not() -> None:
    layer = Layer(changes=[{"Path": "/tmp", "Kind": 0}, {"Path": "/tmp/patroni.yml", "Kind": 1},
                           {"Path": "/etc/hosts", "Kind": 0}, {"Path": "/var/old.conf", "Kind": 2},
                           {"Path": "/tmp/big.bin", "Kind": 1}, {"Path": "/tmp/gone", "Kind": 1}],
                  files={"/tmp/patroni.yml": b"password: hunter2-long\n", "/etc/hosts": b"127.0.0.1 x\n",
                         "/tmp/big.bin": b"x" * (layers.LARGEST_FILE + 1)},
                  dirs=("/tmp",))
    assert list(layers.written_files(layer)) == [("/etc/hosts", "127.0.0.1 x\n"),
                                                 ("/tmp/patroni.yml", "password: hunter2-long\n")]
    assert "/var/old.conf" not in layer.asked  # deleted: nothing to read


def test_a_layer_with_too_many_files_is_read_in_part() -> None:
    names = [f"/data/f{i:04d}" for i in range(layers.MOST_FILES + 5)]
    layer = Layer(changes=[{"Path": n, "Kind": 1} for n in names], files={n: b"x" for n in names})
    assert len(list(layers.written_files(layer))) == layers.MOST_FILES


@pytest.fixture
def fake() -> Iterator[FakeDriver]:
    services = {name: 1 for names in secrets.mounted_by(PROJECT_ROOT / "target-stack").values() for name in names}
    driver = FakeDriver(services=services)
    secrets.ensure(driver, Progress(quiet=True))
    driver.secret_values["tls_db_key"] = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n-----END PRIVATE KEY-----"
    driver.secret_values["tls_edge_key"] = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMH\n-----END PRIVATE KEY-----"
    engine.use_factory(lambda _stack: driver)
    yield driver
    engine.use_factory(driver_for)


def test_a_secret_in_arguments_a_file_on_disk_or_the_run_folder_is_found_with_where(fake: FakeDriver,
                                                                                     tmp_path: Path) -> None:
    root, patroni = fake.secret_values["etcd_root_password"], fake.secret_values["etcd_patroni_password"]
    password = fake.secret_values["db_password"]
    fake.engine_records = {
        "container devsim_etcd.1.x (process arguments)": f"etcd --name=etcd\netcdctl user add root:{root}\n",
        "container devsim_db1.1.old (file /tmp/patroni.yml on disk)": f"etcd3:\n  password: {patroni}\n",
        "container devsim_app.1.y (process arguments)": "node /srv/app/server.js\n",
    }
    run = tmp_path / "20261206T000000Z-security-baseline"
    run.mkdir()
    (run / "experiment.json").write_text(f'{{"configuration": {{"api_password": "{password}"}}}}')
    (run / "requests.csv").write_text("ts,name\n")
    found = security.secrets_exposed(configuration={"request_log": str(run / "requests.csv")})
    assert found.split("; ") == [
        "etcd_patroni_password in container devsim_db1.1.old (file /tmp/patroni.yml on disk)",
        "etcd_root_password in container devsim_etcd.1.x (process arguments)",
        "db_password in the run's folder (experiment.json)",
    ]


def test_a_run_folder_that_is_not_there_is_no_finding(fake: FakeDriver, tmp_path: Path) -> None:
    fake.engine_records = {"container devsim_app.1.y (process arguments)": "node /srv/app/server.js\n"}
    assert security.secrets_exposed(configuration={"request_log": str(tmp_path / "none" / "requests.csv")}) == "none"


class OnDisk:
    """A container whose writable layer the engine keeps on this host with overlay2."""

    def __init__(self, upper: Path, name: str = "overlay2") -> None:
        self.attrs = {"GraphDriver": {"Name": name, "Data": {"UpperDir": str(upper)}}}

    def diff(self) -> list[dict[str, Any]]:
        raise AssertionError("a layer on this host's disk is read where it lies, not through the engine")


def test_a_layer_on_this_hosts_disk_is_read_where_it_lies_files_only(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "patroni.yml").write_text("password: hunter2-long\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hosts").write_text("127.0.0.1 x\n")
    (tmp_path / "run" / "secrets").mkdir(parents=True)
    (tmp_path / "run" / "secrets" / "db_password").write_text("")  # a secret's mount point
    (tmp_path / "tmp" / "big.bin").write_bytes(b"x" * (layers.LARGEST_FILE + 1))
    (tmp_path / "tmp" / "link").symlink_to("/etc/shadow")
    os.mknod(tmp_path / "etc" / "removed.conf", 0o600 | stat.S_IFIFO)  # not a regular file
    assert list(layers.written_files(OnDisk(tmp_path))) == [("/etc/hosts", "127.0.0.1 x\n"),
                                                           ("/tmp/patroni.yml", "password: hunter2-long\n")]


def test_a_layer_on_disk_with_too_many_files_is_read_in_part(tmp_path: Path) -> None:
    for i in range(layers.MOST_FILES + 5):
        (tmp_path / f"f{i:04d}").write_text("x")
    assert len(list(layers.written_files(OnDisk(tmp_path)))) == layers.MOST_FILES


def test_another_storage_driver_or_a_folder_not_here_goes_through_the_engine(tmp_path: Path) -> None:
    assert layers.upper_dir(OnDisk(tmp_path, name="btrfs")) is None
    assert layers.upper_dir(OnDisk(tmp_path / "elsewhere")) is None
    assert layers.upper_dir(OnDisk(tmp_path)) == tmp_path
