"""The composition root of one command: settings, the engine's driver and progress output."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from harness.config import Settings
from harness.driver import StackDriver, driver_for
from harness.progress import Progress


@dataclass
class RunContext:
    """Built once per command by the CLI and passed explicitly; nothing is global."""

    settings: Settings
    progress: Progress = field(default_factory=Progress)

    @cached_property
    def driver(self) -> StackDriver:
        """The stack's driver; it connects to the engine on first use (so `--help` never needs one)."""
        return driver_for(self.settings.stack)
