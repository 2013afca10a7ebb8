"""The database commands of the CLI: `devsim backup` and `devsim restore` (harness/target/backups.py,
harness/target/restore.py do the work; this prints it)."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from typing import Any

from harness.confirm import confirm
from harness.context import RunContext
from harness.errors import UsageError
from harness.stack.services import stack_status
from harness.tables import format_table
from harness.target import backups
from harness.target import restore as restoring

EXIT_OK = 0


def add_parsers(sub: Any) -> None:
    """`backup` and `restore` on the CLI's subcommand parser."""
    backup = sub.add_parser("backup", help="take a database backup now and wait for it, or list the backups",
                            description="The stack backs itself up on schedule (the backup and offsite services); "
                            "this takes one more now, in one repository, and reports its size and duration.")
    backup.add_argument("--list", action="store_true", help="list every backup of both repositories instead")
    backup.add_argument("--repo", type=int, default=1, choices=(1, 2), help="1: backup (default), 2: offsite")
    backup.add_argument("--type", default="full", choices=("full", "diff", "incr"), help="default: full")
    backup.add_argument("--json", action="store_true", help="the result as JSON")

    restore = sub.add_parser("restore", help="rebuild the database cluster from a backup (latest point or a time)",
                             description="Stops every database node, restores one from the repository with "
                             "point-in-time recovery, lets the others clone it, and waits for the steady state. "
                             "Refuses (exit 2, nothing touched) a time before the oldest backup or after the newest "
                             "archived WAL.")
    restore.add_argument("--to", default="latest", metavar="TIME",
                         help="`latest` (default) or a time, e.g. 2026-12-01T21:00:00Z (UTC when no zone is given)")
    restore.add_argument("--repo", type=int, default=1, choices=(1, 2), help="1: backup (default), 2: offsite")
    restore.add_argument("--json", action="store_true", help="the result as JSON")
    restore.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")


def backup(ctx: RunContext, args: argparse.Namespace) -> int:
    """`devsim backup`: one backup now, or `--list`."""
    if not stack_status(ctx.driver, ctx.settings):
        raise UsageError(f"stack {ctx.settings.stack!r} is not up: start it with `devsim up`")
    if args.list:
        found = backups.listing(ctx.driver)
        if args.json:
            print(json.dumps([b.as_dict() for b in found], indent=2))
            return EXIT_OK
        if found:
            print(format_table([("REPO", "LABEL", "TYPE", "ENDED (UTC)", "SECONDS", "STORED", "DATABASE")] + [
                (str(b.repo), b.label, b.kind, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(b.stopped)),
                 f"{b.seconds:.0f}", f"{b.stored_bytes / 2**20:.1f} MiB", f"{b.database_bytes / 2**20:.1f} MiB")
                for b in found]))
        else:
            print("no backup yet")
        return EXIT_OK
    taken = backups.take(ctx.driver, args.repo, args.type, ctx.progress)
    if args.json:
        print(json.dumps(taken.as_dict(), indent=2))
    else:
        print(f"{taken.kind} backup {taken.label} in repository {taken.repo}: {taken.seconds:.0f} s, "
              f"{taken.stored_bytes / 2**20:.1f} MiB stored for a {taken.database_bytes / 2**20:.1f} MiB database "
              f"(WAL {taken.wal_start} to {taken.wal_stop})")
    return EXIT_OK


def restore(ctx: RunContext, args: argparse.Namespace) -> int:
    """`devsim restore [--to TIME|latest] [--repo N] [--yes]`."""
    confirm("devsim restore", lambda: [f"the data of every database node of stack {ctx.settings.stack!r}, replaced "
                                       f"by repository {args.repo}'s backup at {args.to}",
                                       "every write after that point"], args.yes)
    done = restoring.restore(ctx.driver, ctx.settings, args.to, args.repo, ctx.progress)
    if args.json:
        print(json.dumps(asdict(done), indent=2))
    else:
        print(f"restored from repository {done.repo} (backup {done.backup}) to {done.target}: a leader after "
              f"{done.seconds_to_leader:.0f} s, the stack steady after {done.seconds_to_steady_state:.0f} s")
    return EXIT_OK


COMMANDS = {"backup": backup, "restore": restore}
