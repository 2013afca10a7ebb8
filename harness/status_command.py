"""`devsim status`: the stack's services, switches, database roles and port fence, or the
development profile's containers."""

from __future__ import annotations

import argparse
import json
from typing import Any

from harness.context import RunContext
from harness.errors import HarnessError
from harness.stack import switches
from harness.stack.services import running_switches, stack_status
from harness.tables import services_table
from harness.target import development, patroni, scaling

EXIT_OK = 0


def cmd_status(ctx: RunContext, args: argparse.Namespace) -> int:
    states = stack_status(ctx.driver, ctx.settings)
    if not states and development.runs(ctx.driver):
        return _status_development(ctx, args)
    database = _database(ctx) if states else None
    current = running_switches(ctx.driver, ctx.settings, ctx.target.switch_reader(ctx.driver, ctx.settings)) \
        if states else {}
    changed = switches.differing(switches.load(ctx.settings.stack_dir), current)
    fenced = ctx.driver.fenced_ports() if states else {}
    autoscaler = scaling.autoscaler_status(ctx.driver) if states else None
    if args.json:
        print(json.dumps({"stack": ctx.settings.stack, "up": bool(states), "profile": "production" if states else None,
                          "services": [s.as_dict() for s in states], "database": database, "ports_fenced": fenced,
                          "switches": current, "switches_changed": changed, "autoscaler": autoscaler,
                          "dashboard": _dashboard(ctx) if states else None}, indent=2))
    elif not states:
        print(f"stack {ctx.settings.stack!r} is not up")
    else:
        print("profile: production\n")
        print(services_table(states))
        print("\nswitches: " + (" ".join(f"{k}={v}" for k, v in sorted(changed.items())) + " (differ from the shipped "
                                "defaults)" if changed else "as shipped (every safety mechanism on)"))
        if database:
            print(f"\ndatabase: {database.get('roles') or database.get('error')}")
            if "config" in database:
                c = database["config"]
                mode = "on" if c.get("synchronous_mode") else "off"
                print(f"patroni:  synchronous_mode {mode}, ttl {c.get('ttl')} s, loop_wait {c.get('loop_wait')} s, "
                      f"retry_timeout {c.get('retry_timeout')} s")
        if autoscaler:
            print(f"autoscaler: {scaling.describe(autoscaler)}")
        print("ports:    " + (f"{', '.join(map(str, ctx.settings.published_ports))} answer on loopback only "
                                f"({', '.join(sorted(fenced))})" if fenced else "published on every interface"))
        print(f"\ndashboard: {_dashboard(ctx)} (Grafana: import target-stack/monitoring/dashboards/overview.json)")
    return EXIT_OK


def _dashboard(ctx: RunContext) -> str:
    """The stack overview as Prometheus serves it (a console template)."""
    return f"{ctx.settings.prometheus_url}/consoles/devsim-overview.html"


def _database(ctx: RunContext) -> dict[str, Any] | None:
    """The Patroni cluster's roles and timings, for `devsim status`; None without a cluster."""
    members = patroni.member_services(ctx.settings.stack_dir)
    if not members:
        return None
    cluster = patroni.Cluster(ctx.driver, members)
    try:
        view = cluster.view()
        config = cluster.config()
    except HarnessError as exc:
        return {"error": f"Patroni not answering: {exc.one_line()}"}
    return {"roles": view.summary(), "members": [vars(m) for m in view.members],
            "config": {k: config.get(k) for k in ("synchronous_mode", "ttl", "loop_wait", "retry_timeout")}}


def _status_development(ctx: RunContext, args: argparse.Namespace) -> int:
    states = development.status(ctx.driver, ctx.settings)
    if args.json:
        print(json.dumps({"stack": ctx.settings.stack, "up": True, "profile": "development",
                          "services": [s.as_dict() for s in states], "database": None,
                          "switches": {}, "switches_changed": {}, "dashboard": _dashboard(ctx)}, indent=2))
    else:
        print("profile: development (hot reload, inspector on 127.0.0.1:9229, CORS open, debug endpoints)\n")
        print(services_table(states))
        print(f"\ndashboard: {_dashboard(ctx)}")
    return EXIT_OK
