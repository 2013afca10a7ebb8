"""Volumes of an earlier release handed over to their services' own users (harness/target/owners.py):
the scripts run by a real shell on real files, the steps with the fake driver."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest

from harness.errors import InfrastructureError
from harness.progress import Progress
from harness.stack.waiting import Waiter
from harness.target import owners
from harness.target.owners import OWNERS, Owner
from tests.unit.fakedriver import FakeDriver

POSTGRES = 999  # what an earlier release's files belong to (the image's postgres user, any other uid will do)


def run(script: str, root: Path) -> str:
    """The job's script, with its mounts under `root` instead of /v."""
    done = subprocess.run(["sh", "-c", script.replace("/v/", f"{root}/")], capture_output=True, text=True,
                          check=True)
    return done.stdout


def volume(root: Path, owner: Owner, uid: int) -> Path:
    top = root / owner.volume
    (top / "data" / "member").mkdir(parents=True)
    (top / "data" / "member" / "wal").write_text("x")
    for path in (top / "data", top / "data" / "member", top / "data" / "member" / "wal"):
        os.chown(path, uid, uid)
    return top


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changes files' owners")


@needs_root
def test_the_check_names_each_volume_holding_another_users_file_and_the_hand_over_mends_it(tmp_path: Path) -> None:
    etcd, backup, offsite = OWNERS
    volume(tmp_path, etcd, etcd.uid)  # current
    volume(tmp_path, backup, POSTGRES)  # an earlier release's
    mixed = volume(tmp_path, offsite, offsite.uid)
    os.chown(mixed / "data" / "member" / "wal", offsite.uid, POSTGRES)  # one file, its group only
    assert run(owners.check_script(OWNERS), tmp_path).split() == ["backup-repo1", "backup-repo2"]
    run(owners.hand_over_script((backup, offsite)), tmp_path)
    assert run(owners.check_script(OWNERS), tmp_path).split() == []
    wal = (tmp_path / "backup-repo1" / "data" / "member" / "wal").stat()
    assert (wal.st_uid, wal.st_gid) == (10015, 10015)


@needs_root
def test_a_fresh_volumes_top_folder_as_the_image_made_it_is_not_a_reason(tmp_path: Path) -> None:
    etcd = OWNERS[0]
    top = volume(tmp_path, etcd, etcd.uid)
    os.chown(top, 0, 0)  # the engine copies the image's folder, root's, mode 1777
    assert run(owners.check_script((etcd,)), tmp_path) == ""


def quiet() -> Progress:
    return Progress(stream=io.StringIO())


def test_nothing_runs_without_a_volume_to_look_at() -> None:
    driver = FakeDriver()
    driver.vols = [f"{driver.stack}_db1-data"]
    assert owners.hand_over(driver, quiet()) == []
    assert driver.jobs == []


def test_volumes_whose_files_are_their_users_are_left_alone_and_their_services_run_on() -> None:
    driver = FakeDriver()
    driver.add_service("offsite", 1)
    assert owners.hand_over(driver, quiet()) == []
    [check] = driver.jobs
    assert check.volumes == {"devsim_backup-repo1": "/v/backup-repo1", "devsim_backup-repo2": "/v/backup-repo2"}
    assert check.cap_add == ("DAC_READ_SEARCH",)
    assert not [c for c in driver.calls if c.startswith("update")]


def test_a_volume_of_an_earlier_release_is_handed_over_with_its_service_stopped_first() -> None:
    driver = FakeDriver()
    driver.add_service("offsite", 1)
    driver.add_service("backup", 1)
    driver.job_answers = [(0, "backup-repo2\n")]
    out = io.StringIO()
    assert owners.hand_over(driver, Progress(stream=out)) == ["backup-repo2"]
    check, chown = driver.jobs
    assert check.command == ("sh", "-c", owners.check_script(OWNERS[1:]))  # both repositories looked at
    assert chown.command == ("sh", "-c", "chown -R 10016:10016 /v/backup-repo2")
    assert chown.volumes == {"devsim_backup-repo2": "/v/backup-repo2"}
    assert (chown.user, chown.cap_add) == ("0:0", ("CHOWN", "DAC_READ_SEARCH"))
    updates = [c for c in driver.calls if c.startswith("update")]
    assert updates == ["update offsite replicas=0"]  # backup's volume was current: it runs on
    assert driver.calls.index("update offsite replicas=0") < driver.calls.index(
        "job chown -R 10016:10016 /v/backup-repo2")
    assert "backup-repo2 to offsite (uid 10016)" in out.getvalue()


def test_a_failed_hand_over_says_which_volumes_and_why() -> None:
    driver = FakeDriver()
    driver.job_answers = [(0, "backup-repo1\n"), (1, "chown: cannot access '/v/backup-repo1/x': Permission denied\n")]
    with pytest.raises(InfrastructureError) as caught:
        owners.hand_over(driver, quiet(), Waiter(1, 0.01, sleep=lambda _s: None))
    assert caught.value.message == ("cannot hand the volumes backup-repo1 over to their services' users (exit 1)")
    assert caught.value.details == ["chown: cannot access '/v/backup-repo1/x': Permission denied"]
