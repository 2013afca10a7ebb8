"""Imports only go down: the layer order is written once, in docs/development/layout.md, and
checked here over the import graph read with `ast` (every import, those inside functions and
under TYPE_CHECKING included)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from harness.config import PROJECT_ROOT

HARNESS = PROJECT_ROOT / "harness"
LAYOUT = PROJECT_ROOT / "docs" / "development" / "layout.md"


def layers() -> list[list[str]]:
    """The layers, top first: the lines of layout.md's "Layers" block, each a comma-separated
    list of top-level modules or packages of harness/ (`harness` is the package's __init__)."""
    block = re.search(r"<!-- layers -->\n```\n(.*?)```", LAYOUT.read_text(), re.S)
    assert block, "docs/development/layout.md has no <!-- layers --> block"
    return [[name.strip() for name in line.split(":", 1)[0].split(",")] for line in block.group(1).splitlines()
            if line.strip()]


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in HARNESS.rglob("*.py")}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The harness modules `name` imports (a `from package import module` names the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target not in known and "." in target:
                target = target.rpartition(".")[0]
            if target in known and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def unit(module: str) -> str:
    """The layer unit a module belongs to: `harness` itself, or harness's child it sits in."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "harness"


def upward(edges: dict[str, set[str]], order: list[list[str]]) -> list[str]:
    rank = {name: i for i, line in enumerate(order) for name in line}
    found = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            a, b = unit(source), unit(target)
            if a != b and rank[b] <= rank[a]:  # top first: a lower layer has a larger rank
                found.append(f"{source} -> {target} ({a} may not import {b})")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_package_has_a_layer() -> None:
    named = [name for line in layers() for name in line]
    assert len(named) == len(set(named)), "a package is named twice"
    assert {unit(m) for m in modules()} == set(named)


def test_imports_only_go_down() -> None:
    assert upward(graph(), layers()) == []


def test_no_module_cycles() -> None:
    assert cycles(graph()) == []


# --- the checks find what they look for ---------------------------------------------------

def test_an_upward_import_is_named() -> None:
    edges = {"harness.verdict.judge": {"harness.chaos.probes"}, "harness.chaos.probes": {"harness.load.clientlog"}}
    order = [["chaos"], ["verdict"], ["load"]]
    assert upward(edges, order) == ["harness.verdict.judge -> harness.chaos.probes (verdict may not import chaos)"]


def test_two_packages_of_one_layer_may_not_import_each_other() -> None:
    assert upward({"harness.deploy.rollout": {"harness.target.audit"}}, [["deploy", "target"]]) == [
        "harness.deploy.rollout -> harness.target.audit (deploy may not import target)"]


def test_a_cycle_is_found_even_inside_a_package() -> None:
    edges = {"harness.chaos.a": {"harness.chaos.b"}, "harness.chaos.b": {"harness.chaos.c"},
             "harness.chaos.c": {"harness.chaos.a"}, "harness.chaos.d": {"harness.chaos.a"}}
    assert cycles(edges) == [["harness.chaos.a", "harness.chaos.b", "harness.chaos.c"]]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from harness.chaos import probes\n", {"harness.chaos.probes"}),
        ("from harness.chaos.probes import client_requests\n", {"harness.chaos.probes"}),
        ("def f():\n    from . import judge\n", {"harness.verdict.judge"}),
        ("from .. import errors\n", {"harness.errors"}),
        ("import harness.load.clientlog\n", {"harness.load.clientlog"}),
    ],
)
def test_imports_are_read_as_python_resolves_them(tmp_path: Path, source: str, expected: set[str]) -> None:
    path = tmp_path / "claims.py"
    path.write_text(source)
    known = {"harness", "harness.errors", "harness.chaos", "harness.chaos.probes", "harness.verdict",
             "harness.verdict.judge", "harness.load", "harness.load.clientlog"}
    assert imports("harness.verdict.claims", path, known) == expected


def test_the_readmes_summary_follows_the_layers() -> None:
    """README's Layout names the main packages top first; it must not drift from the block."""
    summary = re.search(r"`harness/` imports only downwards \((.*?);", (PROJECT_ROOT / "README.md").read_text(), re.S)
    assert summary, "README.md has no Layout summary"
    rank = {name: i for i, line in enumerate(layers()) for name in line}
    steps = [[name.strip(" `\n") for name in step.split(",")] for step in summary.group(1).split("→")]
    ranks = [{rank[name] for name in step} for step in steps]
    assert all(len(r) == 1 for r in ranks), f"a step of {steps} mixes layers"
    assert [r.pop() for r in ranks] == sorted({rank[n] for step in steps for n in step})


def calls_of(path: Path, name: str) -> list[int]:
    return [node.lineno for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and (getattr(node.func, "id", None) == name
                                               or getattr(node.func, "attr", None) == name)]


def test_only_the_composition_roots_read_the_settings_from_the_environment() -> None:
    """The CLI builds a command's settings once; the extension's engine is the one place a
    plain `chaos run` reads DEVSIM_*; everything else is handed its settings."""
    found = {str(p.relative_to(HARNESS)): lines for p in sorted(HARNESS.rglob("*.py"))
             if (lines := calls_of(p, "load_settings"))}
    assert set(found) == {"cli.py", "chaos/engine.py"}, found
    assert len(found["chaos/engine.py"]) == 1


def test_a_runs_file_names_are_spelled_in_one_place() -> None:
    from harness.runs import RunFiles

    names = {value for key, value in vars(RunFiles).items() if key.isupper()}
    assert {"verdict.json", "journal.json", "requests.csv", "index.html"} <= names
    found = {str(p.relative_to(HARNESS)): hits for p in sorted(HARNESS.rglob("*.py")) if p.name != "runs.py"
             and (hits := [n.lineno for n in ast.walk(ast.parse(p.read_text()))
                           if isinstance(n, ast.Constant) and n.value in names])}
    assert found == {}
