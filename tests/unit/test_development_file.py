"""target-stack/development.yml as the harness reads it: values filled in, loopback only."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import Settings
from harness.errors import ConfigError
from harness.target import development

IMAGES = {f"{name}_IMAGE": f"devsim/{name.lower()}:x" for name in
          ("APP", "DB", "CACHE", "MAILSINK", "ALERTMANAGER", "MONITORING")}
PORTS = {"LB_PORT": "8080", "PROMETHEUS_PORT": "9090", "MAILSINK_PORT": "8025"}


def test_fill_takes_the_value_then_the_default_and_refuses_an_unset_one() -> None:
    assert development.fill("a ${X} b ${Y:-dflt} ${Z:-}", {"X": "1"}) == "a 1 b dflt "
    with pytest.raises(ConfigError, match=r"needs \$\{W\}"):
        development.fill("${W}", {})


def test_the_shipped_profile_publishes_on_loopback_only_and_mounts_the_app_source() -> None:
    settings = Settings()
    services = {s.name: s for s in development.load(settings, {**IMAGES, **PORTS, "LB_PORT": "18080"})}
    assert list(services) == ["db", "cache", "mailsink", "alertmanager", "app", "monitoring"]
    published = {(name, target): bind for name, s in services.items() for target, bind in s.ports.items()}
    assert published == {("app", "8080/tcp"): ("127.0.0.1", 18080), ("app", "9229/tcp"): ("127.0.0.1", 9229),
                         ("mailsink", "8025/tcp"): ("127.0.0.1", 8025),
                         ("monitoring", "9090/tcp"): ("127.0.0.1", 9090)}
    app = services["app"]
    assert app.binds == {str((settings.stack_dir / "app").resolve()): {"bind": "/srv/app", "mode": "ro"}}
    assert app.command is not None
    assert "--watch" in app.command
    assert app.environment["PROFILE"] == "development"
    assert services["db"].binds == {"devsim_dev-db-data": {"bind": "/var/lib/postgresql/data", "mode": "rw"}}
    assert services["db"].healthcheck is not None
    assert services["db"].healthcheck["interval"] == 1_000_000_000


def test_a_profile_file_that_is_not_one_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "development.yml").write_text("services: [just, a, list]\n")
    with pytest.raises(ConfigError, match="is not a valid development profile"):
        development.load(Settings(stack_dir=tmp_path), {})
