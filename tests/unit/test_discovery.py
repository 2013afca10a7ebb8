"""`chaos discover` on the extension, through Chaos Toolkit's own CLI: every activity the
shipped experiments name is listed, with the kind the experiment files give it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from harness.config import PROJECT_ROOT

CHAOS = Path(sys.executable).parent / "chaos"


def used_by_experiments() -> dict[tuple[str, str], str]:
    """{(module, func): action|probe} as the shipped experiment files use them."""
    found: dict[tuple[str, str], str] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            provider = node.get("provider")
            if isinstance(provider, dict) and provider.get("type") == "python" and node.get("type"):
                found[(provider["module"], provider["func"])] = node["type"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((PROJECT_ROOT / "experiments").glob("*.yaml")):
        walk(yaml.safe_load(path.read_text()))
    return found


def test_chaos_discover_lists_every_activity_the_experiments_use(tmp_path: Path) -> None:
    out = tmp_path / "discovery.json"
    done = subprocess.run([str(CHAOS), "discover", "--no-install", "--no-system-info", "--discovery-path", str(out),
                           "devops-simulator"], capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    discovery = json.loads(out.read_text())
    listed = {(a["mod"], a["name"]): a["type"] for a in discovery["activities"]}
    used = used_by_experiments()
    assert len(used) > 20
    assert {key: listed.get(key) for key in used} == used
    assert discovery["system"] is None
    assert discovery["extension"]["name"] == "devops-simulator"
    kill = next(a for a in discovery["activities"] if a["name"] == "kill_tasks")
    assert [arg["name"] for arg in kill["arguments"]][:3] == ["service", "count", "signal"]
    # the types as written in the signature (`service: str, count: int = 1, signal: str`), not
    # chaoslib's "object" for a string annotation
    assert [(arg["name"], arg.get("type")) for arg in kill["arguments"]][:3] == [
        ("service", "string"), ("count", "integer"), ("signal", "string")]
    detect = next(a for a in discovery["activities"] if a["name"] == "time_to_detect")
    assert (detect["type"], detect["return_type"]) == ("probe", "number")
