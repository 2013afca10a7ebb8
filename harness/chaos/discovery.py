"""`chaos discover devops-simulator`: the extension's actions and probes, described the way
chaoslib describes any extension's (name, module, doc, arguments with their defaults and
types), and, unless --no-system-info, the stack as its driver sees it."""

from __future__ import annotations

import importlib
import typing
from typing import Any

from chaoslib.discovery.discover import discover_activities, initialize_discovery_result, portable_type_name

from harness.version import __version__

# Module -> the activities of each kind it offers (the faults' undos are actions too).
ACTIONS = {
    "harness.chaos.actions": ("kill_tasks", "stop_service", "restore_service", "pause_service", "unpause_service",
                              "restart_service", "partition_service", "add_network_fault", "remove_network_fault",
                              "set_proxy_latency", "stress_cpu", "stop_cpu_stress", "spike_load", "stop_load_spike",
                              "wait_for_load_spike",
                              "roll_service",
                              "deploy_release", "wait_until_converged", "restore_everything"),
    "harness.chaos.database": ("kill_db_leader", "switchover_db", "wait_until_db_whole"),
    "harness.chaos.backups": ("destroy_db_data", "restore_db", "restore_db_if_lost", "archive_now", "write_marker",
                              "delete_rows_by_mistake"),
}
PROBES = {
    "harness.chaos.probes": ("client_error_ratio", "client_failed_requests", "client_requests",
                             "client_longest_failure_run", "client_latency_ms", "client_status_share",
                             "prometheus_value", "prometheus_over_window", "ready_replicas", "seconds_until_ready",
                             "http_status", "http_latency_ms", "served_versions", "running_versions", "write_rto",
                             "failed_writes_outside_outage", "write_unavailability", "write_audit", "lost_write_age",
                             "time_to_detect", "time_to_recover", "client_outage_seconds", "token_status",
                             "token_latency_ms"),
    "harness.chaos.database": ("db_leaders", "db_cluster_whole", "seconds_until_db_leader", "seconds_until_db_whole"),
    "harness.chaos.alerts": ("alert_state", "seconds_until_alert", "emails", "seconds_until_email"),
    "harness.chaos.security": ("secrets_exposed", "patroni_unauthenticated_change", "etcd_unauthenticated_write",
                               "redis_unauthenticated_write", "reachable_from", "db_plaintext_connection",
                               "db_unencrypted_sessions", "edge_handshake", "edge_certificate",
                               "plain_http_answer", "edge_header"),
    "harness.chaos.tokens": ("token_status",),
    "harness.chaos.scaling": ("seconds_until_replicas", "lowest_replicas"),
    "harness.chaos.containment": ("uncontained", "shared_users", "engine_socket_holders", "memory_hog"),
    "harness.chaos.abuse": ("bad_input_status", "without_token_status", "token_response_header", "edge_status",
                            "edge_ready_fields", "rate_burst"),
    "harness.chaos.backups": ("db_rows", "writes_since_backup"),
    "harness.chaos.offhost": ("ports_answering_off_loopback",),
}


def activities() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for kind, table in (("action", ACTIONS), ("probe", PROBES)):
        for module, names in table.items():
            described = {a["name"]: a for a in discover_activities(module, kind)}
            missing = [n for n in names if n not in described]
            if missing:
                raise RuntimeError(f"{module} does not export {missing}")  # a test keeps this from shipping
            found += [_typed(module, described[n]) for n in names]
    return found


def _typed(module: str, activity: dict[str, Any]) -> dict[str, Any]:
    """chaoslib reads annotations as written; ours are strings (`from __future__ import
    annotations`), which it calls `object`: resolve them first."""
    try:
        hints = typing.get_type_hints(getattr(importlib.import_module(module), activity["name"]))
    except (NameError, TypeError):  # a hint that does not resolve keeps chaoslib's description
        return activity
    for arg in activity.get("arguments", []):
        if arg["name"] in hints:
            arg["type"] = portable_type_name(hints[arg["name"]])
    if "return" in hints:
        activity["return_type"] = portable_type_name(hints["return"])
    return activity


def system() -> dict[str, Any]:
    """The stack's services as the driver sees them; the reason instead when it cannot."""
    from harness.chaos import engine
    from harness.errors import HarnessError

    settings = engine.settings(None)
    try:
        services = engine.driver(None).services()
    except HarnessError as exc:
        return {"stack": settings.stack, "error": exc.one_line()}
    return {"stack": settings.stack, "services": {s.name: {"image": s.image, "replicas": s.replicas} for s in services}}


def discover(discover_system: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = dict(initialize_discovery_result("devops-simulator", __version__, "devsim"))
    result["activities"] = activities()
    result["system"] = system() if discover_system else None
    importlib.import_module("harness.chaos.controls")  # the control experiments declare must import too
    return result
