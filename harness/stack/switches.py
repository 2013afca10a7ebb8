"""The stack's switches: declared once in target-stack/switches.yml, checked before a deploy,
read back from the running stack.

A negative control is worth something only if its switch really took effect: a mistyped
name (`LB_HEALTHCHEKS=no-check`) used to be accepted silently and left the mechanism on, so
the "control" could pass or fail for the wrong reason. `--set` now takes only declared names
and values, and `read_back` shows what the running services actually carry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.driver.model import ServiceInfo
from harness.errors import ConfigError

FILE = "switches.yml"
SERVICE_READERS = ("env", "update", "healthcheck")  # what of a service's spec shows a switch


@dataclass(frozen=True)
class Switch:
    name: str
    default: str
    values: tuple[str, ...]  # the allowed values; empty when `range` is set
    range: tuple[int, int] | None
    read: tuple[tuple[str, str], ...]  # e.g. (("service", "app"), ("env", "GRACEFUL_SHUTDOWN"))
    what: str

    def allows(self, value: str) -> bool:
        if self.range is None:
            return value in self.values
        try:
            number = int(value, 10)
        except ValueError:
            return False
        return self.range[0] <= number <= self.range[1]

    def describe_values(self) -> str:
        if self.range is None:
            return "|".join(self.values)
        return f"an integer from {self.range[0]} to {self.range[1]}"

    @property
    def source(self) -> dict[str, str]:
        return dict(self.read)


def load(stack_dir: Path) -> dict[str, Switch]:
    """The switches the stack declares, by name; {} when it declares none."""
    path = stack_dir / FILE
    if not path.is_file():
        return {}
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} must map switch names to their declarations")
    return {str(name): _parse(path, str(name), spec) for name, spec in doc.items()}


def _parse(path: Path, name: str, spec: Any) -> Switch:
    if not isinstance(spec, dict) or "default" not in spec or not isinstance(spec.get("read"), dict):
        raise ConfigError(f"{path}: switch {name} needs a default and a read")
    values = tuple(str(v) for v in spec.get("values") or ())
    bounds = spec.get("range")
    span = (int(bounds[0]), int(bounds[1])) if isinstance(bounds, list) and len(bounds) == 2 else None
    if bool(values) == (span is not None):
        raise ConfigError(f"{path}: switch {name} needs exactly one of values or range")
    switch = Switch(name, str(spec["default"]), values, span,
                    tuple((str(k), str(v)) for k, v in spec["read"].items()), str(spec.get("what", "")))
    if not switch.allows(switch.default):
        raise ConfigError(f"{path}: switch {name}'s default {switch.default!r} is not one of its values")
    source = switch.source
    if "service" in source and not any(k in SERVICE_READERS for k in source):
        raise ConfigError(f"{path}: switch {name} reads service {source['service']} but none of "
                          f"{', '.join(SERVICE_READERS)}")
    if "service" not in source and len(source) != 1:
        raise ConfigError(f"{path}: switch {name} reads from a service (service: with one of "
                          f"{', '.join(SERVICE_READERS)}) or from one source the target stack reads")
    return switch


def check(declared: Mapping[str, Switch], overrides: Mapping[str, str]) -> None:
    """Raises ConfigError naming the valid switches (or values) for anything not declared."""
    for key, value in overrides.items():
        switch = declared.get(key)
        if switch is None:
            raise ConfigError(f"unknown switch {key!r}; the stack's switches are: {', '.join(sorted(declared))}")
        if not switch.allows(value):
            raise ConfigError(f"switch {key} must be {switch.describe_values()}, got {value!r}")


def value_in_service(switch: Switch, service: ServiceInfo) -> str | None:
    """The switch's value as the running service shows it; None when it does not say."""
    source = switch.source
    if "env" in source:
        return service.env.get(source["env"])
    if "update" in source:
        found = service.update_config.get(source["update"])
        return str(found) if found is not None else None
    if "healthcheck" in source:
        return "true" if service.healthcheck == ("NONE",) else "false"
    return None


def read_back(declared: Mapping[str, Switch], services: Mapping[str, ServiceInfo],
              elsewhere: Callable[[Switch], str | None]) -> dict[str, str | None]:
    """Each switch's value in the running stack: from `services` (by short name) for those a
    service shows, else as `elsewhere` (the target stack's reader) reads it. None where the
    running stack does not show it."""
    found: dict[str, str | None] = {}
    for name, switch in declared.items():
        service = switch.source.get("service")
        if service is not None:
            info = services.get(service)
            found[name] = value_in_service(switch, info) if info is not None else None
        else:
            found[name] = elsewhere(switch)
    return found


def differing(declared: Mapping[str, Switch], current: Mapping[str, str | None]) -> dict[str, str]:
    """The switches whose running value is known and differs from the shipped default."""
    return {name: value for name, value in current.items()
            if value is not None and name in declared and value != declared[name].default}
