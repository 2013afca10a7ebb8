"""The shipped stack.yml keeps the rules this machine and the harness depend on."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from harness.config import PROJECT_ROOT, Settings
from harness.stack.images import ImageSpec, content_tag
from harness.stack.services import declared_services
from harness.target.images import stack_images


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return yaml.safe_load((Settings().stack_dir / "stack.yml").read_text())  # type: ignore[no-any-return]


def test_every_service_uses_dns_round_robin_and_carries_the_label(stack: dict[str, Any]) -> None:
    for name, service in stack["services"].items():
        assert service["deploy"]["endpoint_mode"] == "dnsrr", name
        assert "devsim.stack" in service["deploy"]["labels"], name
        assert "devsim.stack" in service["labels"], name


def test_published_ports_are_host_mode_and_only_the_entry_points(stack: dict[str, Any]) -> None:
    published = {name: s.get("ports", []) for name, s in stack["services"].items() if s.get("ports")}
    assert set(published) == {"lb", "monitoring", "pushgateway", "mailsink"}
    for ports in published.values():
        assert all(p["mode"] == "host" for p in ports)


def test_networks_and_volumes_carry_the_label(stack: dict[str, Any]) -> None:
    for kind in ("networks", "volumes"):
        for name, item in stack[kind].items():
            assert "devsim.stack" in item["labels"], f"{kind}.{name}"


def test_every_image_has_a_build_folder_and_a_stack_variable() -> None:
    settings = Settings()
    declared = set(declared_services(settings.stack_dir))
    specs = stack_images(settings.stack)
    services = yaml.safe_load((settings.stack_dir / "stack.yml").read_text())["services"]
    # every service runs an image the harness builds (the exporters share one; so do the
    # Patroni nodes db1..db3 and etcd: the db image)
    for name, service in services.items():
        var = service["image"].split("${", 1)[1].split(":-", 1)[0]
        assert var in {s.env_var for s in specs}, name
    assert {s.service for s in specs} <= declared | {"exporters", "db"}
    for spec in specs:
        dockerfile = (settings.stack_dir / spec.service / "Dockerfile").read_text()
        assert "FROM debian:bookworm-slim" in dockerfile
    stack_text = (settings.stack_dir / "stack.yml").read_text()
    for spec in specs:
        if spec.env_var:
            assert "${" + spec.env_var in stack_text


def test_app_ships_two_releases_and_the_broken_builds() -> None:
    versions = [s.version for s in stack_images("devsim") if s.service == "app"]
    assert versions == ["v1", "v2", "v2-crash", "v2-never-ready", "v2-errors", "v2-slow"]
    for spec in stack_images("devsim"):
        if spec.version.startswith("v2-"):
            assert dict(spec.build_args) == {"APP_VERSION": spec.version, "APP_BREAKAGE": spec.version[3:]}


def test_content_tag_follows_the_image_id() -> None:
    spec = ImageSpec("app", "devsim/app", "v1", "APP_IMAGE")
    first = content_tag(spec, "sha256:" + "a" * 64)
    second = content_tag(spec, "sha256:" + "b" * 64)
    assert first == "devsim/app:v1-aaaaaaaaaaaa"
    assert first != second


def test_the_console_page_shows_the_dashboards_panels_with_the_same_queries() -> None:
    monitoring = PROJECT_ROOT / "target-stack" / "monitoring"
    board = json.loads((monitoring / "dashboards" / "overview.json").read_text())
    page = (monitoring / "consoles" / "devsim-overview.html").read_text()
    in_page = [json.loads(found) for found in re.findall(r"expr: (\[.*?\]),\n", page)]
    assert in_page == [[t["expr"] for t in p["targets"]] for p in board["panels"]]
    titles = {p["title"] for p in board["panels"]}
    assert {"Request rate by route", "Error ratio (5xx)", "Latency by route (p50, p95)", "App replicas", "CPU",
            "Memory", "Disk free", "Network", "Database roles", "Replication lag", "Alerts firing"} == titles
    for panel in board["panels"]:  # Grafana's import asks for the data source
        assert all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in panel["targets"])


def test_only_the_gate_holds_the_engine_socket_and_only_the_autoscaler_reaches_the_gate(
        stack: dict[str, Any]) -> None:
    """The engine's socket is root on the host: one service has it, on a network no other
    service joins (docs/stack/autoscaling.md)."""
    holders = {name for name, s in stack["services"].items()
               for v in s.get("volumes", []) if isinstance(v, dict) and "docker.sock" in str(v.get("source", ""))}
    assert holders == {"scaler-gate"}
    on_scaling = {name for name, s in stack["services"].items() if "scaling" in s.get("networks", [])}
    assert on_scaling == {"scaler-gate", "autoscaler"}
    assert stack["networks"]["scaling"]["internal"] is True
    gate = stack["services"]["scaler-gate"]
    assert gate["user"].startswith("10017:")
    assert gate["cap_drop"] == ["ALL"]
    assert gate["read_only"] is True
