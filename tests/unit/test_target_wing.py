"""The target stack's knowledge lives in its wing (harness/target/, and the extension's
activities for it): the generic core names none of its services or products, so that a
second stack is a second wing and not edits everywhere (issue #30)."""

from __future__ import annotations

import ast

import yaml

from harness.config import PROJECT_ROOT
from harness.stack.target import TargetStack
from harness.target.devsim import DevsimStack

# Everything but the entry points and commands (cli, database_commands: the composition
# roots that wire the wing in), the wing itself, and the Chaos Toolkit extension (whose
# activities for this stack, chaos/database.py and the like, experiment files name).
GENERIC = ("config", "context", "deploy", "driver", "errors", "experiment", "http", "load", "metrics",
           "offline_commands", "progress", "report", "runs", "stack", "tables", "verdict", "version")
PRODUCTS = ("patroni", "pgbackrest", "etcd", "haproxy", "redis", "postgres")


def services() -> set[str]:
    """The service names the stack's own files declare."""
    found: set[str] = set()
    for name in ("stack.yml", "development.yml"):
        found |= set(yaml.safe_load((PROJECT_ROOT / "target-stack" / name).read_text())["services"])
    return found


def named(source: str, names: set[str]) -> list[str]:
    """String values equal to a service name, and strings or identifiers naming a product of
    the stack; docstrings and comments are prose and may."""
    tree = ast.parse(source)
    prose = {id(node.body[0].value) for node in ast.walk(tree)
             if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
             and ast.get_docstring(node, clean=False) is not None}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        text = ""
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            if node.value in names:
                found.append((node.lineno, repr(node.value)))
                continue
            text = node.value
        elif isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.arg):
            text = node.arg
        if any(word in text.lower() for word in PRODUCTS):
            found.append((getattr(node, "lineno", 0), repr(text[:60])))
    return [f"line {line}: {what}" for line, what in sorted(found)]


def test_the_generic_core_names_no_service_or_product_of_the_stack() -> None:
    names = services()
    assert {"app", "lb", "dbrouter", "db1", "etcd"} <= names  # the files were read
    found = {}
    for path in sorted((PROJECT_ROOT / "harness").rglob("*.py")):
        parts = path.relative_to(PROJECT_ROOT / "harness").with_suffix("").parts
        if parts[0] in GENERIC and (hits := named(path.read_text(), names)):
            found[str(path.relative_to(PROJECT_ROOT))] = hits
    assert found == {}


def test_the_check_finds_a_service_a_product_and_leaves_prose_alone() -> None:
    source = '''"""Waits for Patroni and the dbrouter."""
def wait(driver):
    """The app behind the lb."""
    logs = driver.logs("dbrouter")  # a comment on etcd
    patroni_cluster = None
    return f"{logs} app"
'''
    assert named(source, {"app", "lb", "dbrouter"}) == ["line 4: 'dbrouter'", "line 5: 'patroni_cluster'"]


def test_the_wing_is_what_the_generic_core_asks_for() -> None:
    stack: TargetStack = DevsimStack()  # mypy checks the protocol; this checks the values
    assert stack.stop_last == ("etcd",)
    assert stack.release_service == "app"
    assert set(stack.server_signals()) == {"alert", "lb"}
    assert {p.service for p in stack.images("devsim")} <= services() | {"exporters", "db"}
