"""Which service `up` names when the stack never becomes healthy: the likeliest cause."""

from __future__ import annotations

from harness.stack.lifecycle import most_likely_cause
from harness.stack.services import ServiceState


def state(name: str, ready: int, desired: int = 1, error: str = "") -> ServiceState:
    return ServiceState(name, desired, ready, f"devsim/{name}:x", "x", (), error)


def test_a_crashing_service_is_named_before_one_that_fails_its_health_check() -> None:
    # As seen when db1's entrypoint exits: the app, waiting on the database, fails its health
    # check; the app comes first in stack.yml, but the crash is the cause.
    states = {
        "app": state("app", 0, error="task: non-zero exit (137): dockerexec: unhealthy container"),
        "lb": state("lb", 1),
        "db1": state("db1", 0, error="task: non-zero exit (1)"),
        "db2": state("db2", 0),
    }
    assert most_likely_cause(("app", "lb", "db1", "db2"), states) == ["db1", "app", "db2"]


def test_missing_and_starting_services_come_last_in_file_order() -> None:
    states = {"b": state("b", 0), "c": state("c", 1, 2, error="unhealthy container")}
    assert most_likely_cause(("a", "b", "c"), states) == ["c", "a", "b"]


def test_nothing_stuck_names_nothing() -> None:
    assert most_likely_cause(("a",), {"a": state("a", 1)}) == []
