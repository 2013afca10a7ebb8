"""Each stateful service but the database nodes runs as a user of its own (stack.yml's `user:`,
target-stack/db/Dockerfile's users): etcd, and each backup repository's host. Their volumes
made by an earlier release belong to the image's postgres user, whom the three of them
shared; `devsim up` hands such a volume over once, before its service runs as the new user.

A one-off container does it (JobSpec): no network, a read-only root, and of root's powers only
changing owners and reading every folder. A volume whose files all have the owner already is
left alone, so a stack that is up and current is not touched. Its service is stopped first (a
single task): etcd or pgBackRest writing into files whose owner changes under it would fail
halfway; the deploy that follows starts it again, as its new user.

The database nodes keep the postgres user between them: they are one server, replicated, and
the harness reaches each as that user (harness/target/patroni.py)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.driver import JobSpec, StackDriver
from harness.errors import InfrastructureError
from harness.progress import Progress
from harness.stack.waiting import Check, Waiter

BASE_IMAGE = "debian:bookworm-slim"  # every image is built on it, so the engine has it


@dataclass(frozen=True)
class Owner:
    service: str
    volume: str  # short name, as stack.yml's volumes
    uid: int


OWNERS = (Owner("etcd", "etcd-data", 10014), Owner("backup", "backup-repo1", 10015),
          Owner("offsite", "backup-repo2", 10016))


def _mount(owner: Owner) -> str:
    return f"/v/{owner.volume}"


def check_script(owners: tuple[Owner, ...]) -> str:
    """Prints the short name of each volume holding a file (below its top folder, which a fresh
    volume takes from the image) that is not its service's user's and group's."""
    return "; ".join(f'[ -z "$(find {_mount(o)} -mindepth 1 \\( ! -uid {o.uid} -o ! -gid {o.uid} \\) -print -quit)" ]'
                     f" || echo {o.volume}" for o in owners) + "; true"


def hand_over_script(owners: tuple[Owner, ...]) -> str:
    return " && ".join(f"chown -R {o.uid}:{o.uid} {_mount(o)}" for o in owners)


def _job(driver: StackDriver, owners: tuple[Owner, ...], script: str, caps: tuple[str, ...]) -> str:
    spec = JobSpec(BASE_IMAGE, ("sh", "-c", script), {f"{driver.stack}_{o.volume}": _mount(o) for o in owners},
                   user="0:0", cap_add=caps)
    code, out = driver.run_job(spec, timeout=300)
    if code != 0:
        raise InfrastructureError(f"cannot hand the volumes {', '.join(o.volume for o in owners)} over to their "
                                  f"services' users (exit {code})", details=out.splitlines()[-10:])
    return out


def hand_over(driver: StackDriver, progress: Progress, waiter: Waiter | None = None) -> list[str]:
    """Hands each existing volume of OWNERS that holds another user's files to its service's
    user, its service stopped meanwhile; returns the short names of those handed over."""
    existing = set(driver.volumes())
    present = tuple(o for o in OWNERS if f"{driver.stack}_{o.volume}" in existing)
    if not present:
        return []
    wrong = set(_job(driver, present, check_script(present), ("DAC_READ_SEARCH",)).split())
    todo = tuple(o for o in present if o.volume in wrong)
    if not todo:
        return []
    progress.step("handing volumes of an earlier release over to their services' own users: "
                  + ", ".join(f"{o.volume} to {o.service} (uid {o.uid})" for o in todo))
    services = {s.name for s in driver.services()}
    running = [o.service for o in todo if o.service in services]
    for service in running:
        driver.update(service, replicas=0)

    def stopped() -> Check:
        left = [s for s in running if driver.containers(s)]
        return Check(not left, f"waiting for {', '.join(left)} to stop" if left else "stopped")

    if running and (waiter or Waiter(90, 1.0)).until(stopped) is None:
        raise InfrastructureError(f"{', '.join(running)} did not stop within 90 s, so their volumes were not "
                                  "handed over", hint="see `devsim status`, then run `devsim up` again")
    _job(driver, todo, hand_over_script(todo), ("CHOWN", "DAC_READ_SEARCH"))
    return [o.volume for o in todo]
