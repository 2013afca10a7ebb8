"""The composition root of one command: settings, the Docker client and progress output."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from harness.config import Settings
from harness.progress import Progress
from harness.stack import engine


@dataclass
class RunContext:
    """Built once per command by the CLI and passed explicitly; nothing is global."""

    settings: Settings
    progress: Progress = field(default_factory=Progress)

    @cached_property
    def docker(self) -> Any:
        """The Docker client, connected on first use (so `--help` never needs an engine)."""
        return engine.connect()
