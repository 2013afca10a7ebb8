"""The restore order: what `devsim restore` leaves in etcd for the database nodes to read at
their start (target-stack/db/entrypoint.sh), under a prefix only etcd's root writes (the
harness, with root's password from inside the etcd container). Patroni's user may read it
and nothing more (target-stack/db/etcd-entrypoint.sh). It is removed once the restored
cluster is whole: by `devsim restore`, or by the next `devsim up` after one was interrupted.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable

from harness.driver import StackDriver
from harness.errors import InfrastructureError
from harness.progress import Progress
from harness.stack.waiting import Check, Waiter
from harness.target import patroni
from harness.target.secrets import running_container

SCOPE = "devsim"  # Patroni's scope (the cluster's name in etcd)
ORDER_KEY = f"/devsim/restore/{SCOPE}"
LEGACY_ORDER_KEY = f"/service/{SCOPE}-restore"  # where earlier releases wrote it, and never removed it


def _etcd(driver: StackDriver, command: str, user: str = "patroni", stdin: str = "") -> str:
    """An etcdctl command inside the etcd container, as `user` (patroni or root; the password
    from the mounted secret, in the environment, never an argument); `stdin` is its input."""
    feed = f"printf '%s' {shlex.quote(stdin)} | " if stdin else ""
    script = (f'{feed}ETCDCTL_API=3 ETCDCTL_USER="{user}:$(cat /run/secrets/etcd_{user}_password)" '
              f"etcdctl --endpoints=http://127.0.0.1:2379 --command-timeout=10s {command}")
    code, out = driver.exec(running_container(driver, "etcd"), ["sh", "-c", script], timeout=60)
    if code != 0:
        raise InfrastructureError(f"etcd refused `etcdctl {command.split()[0]}`: {out.strip()[-200:]}")
    return out


def place_order(driver: StackDriver, order: str) -> None:
    """In one transaction: the order, and the cluster's keys removed (so that no node follows
    the old leader, and the first to start bootstraps from the order). Half of it is never
    written: a cut between the two used to leave every data directory emptied and no leader."""
    value = json.dumps(order)  # etcdctl's txn reads a quoted value
    ops = f"\nput {ORDER_KEY} {value}\ndel /service/{SCOPE}/ /service/{SCOPE}0\n\n\n"
    out = _etcd(driver, "txn --interactive=false", user="root", stdin=ops)
    if out.split("\n", 1)[0].strip() != "SUCCESS":  # then each operation's answer: OK, the keys deleted
        raise InfrastructureError(f"etcd did not apply the restore order: {out.strip()[-200:]}",
                                  hint="the database nodes are stopped: `devsim up` starts them again")


def order_placed(driver: StackDriver) -> str:
    """The restore order in place ("" when none)."""
    return _etcd(driver, f"get --print-value-only {ORDER_KEY}", user="root").strip()


def finish_order(driver: StackDriver) -> None:
    """The order goes once the restored cluster is whole (and the one an older release left)."""
    _etcd(driver, f"del {ORDER_KEY}", user="root")
    _etcd(driver, f"del {LEGACY_ORDER_KEY}")


def wait_while_restoring(driver: StackDriver, members: tuple[str, ...], waiter: Waiter, progress: Progress) -> None:
    """When a restore goes on in the cluster (one interrupted after its node started), until
    that node leads. `devsim up` waits for it before it deploys: a node restarted while it
    replays the WAL keeps what it replayed, and Patroni promotes it without the rest (CI:
    `up` right after Ctrl-C restarted it, and the restored data lacked the newest rows)."""
    if not members:
        return
    try:
        if not driver.containers(members[0]) or not order_placed(driver):
            return  # no restoring node, or no order: nothing under way
    except InfrastructureError:
        return  # no stack, or no etcd: nothing under way that `up` could cut
    leads = restored_node_leads(driver, members)
    if leads().done:
        return
    progress.step(f"a restore goes on in the cluster: waiting for {members[0]} to lead before deploying")
    if waiter.until(leads, progress.update) is None:
        raise InfrastructureError(f"{members[0]} was still restoring after {waiter.timeout:.0f} s: `up` did not "
                                  "deploy, which would have cut its replay short", details=driver.logs(members[0], 15),
                                  hint="`devsim status`; `devsim up` again once it leads")


def restored_node_leads(driver: StackDriver, members: tuple[str, ...]) -> Callable[[], Check]:
    """A look at whether the restoring node (the first member) leads yet: what `devsim
    restore` and `devsim up` after an interrupted one both wait for."""
    cluster = patroni.Cluster(driver, members)

    def leads() -> Check:
        try:
            return Check(cluster.leader() == members[0], f"waiting for {members[0]} to promote (replaying the WAL)")
        except InfrastructureError as exc:
            return Check(False, f"{members[0]} is restoring: {exc.one_line()}")

    return leads
