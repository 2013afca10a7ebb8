"""The composition root of one command: settings, the target stack's wing, the engine's
driver, progress output and the HTTP session that verifies the stack's edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from harness.config import Settings
from harness.driver import StackDriver, driver_for
from harness.http import Http, http_for
from harness.progress import Progress
from harness.stack.target import TargetStack


@dataclass
class RunContext:
    """Built once per command by the CLI and passed explicitly; nothing is global."""

    settings: Settings
    target: TargetStack  # the stack's wing: what the generic lifecycle asks of this stack
    progress: Progress = field(default_factory=Progress)
    _http: Http | None = field(default=None, init=False, repr=False)

    @cached_property
    def driver(self) -> StackDriver:
        """The stack's driver; it connects to the engine on first use (so `--help` never needs one)."""
        return driver_for(self.settings.stack)

    @property
    def http(self) -> Http:
        """The command's HTTP session: HTTPS verified against the stack's CA file (which `up`,
        `run` and `meet_the_running_stack` keep current); plain HTTP for the development profile. Made anew only
        when the settings say otherwise (the profile found running)."""
        if self._http is None or self._http.ca_file != self.settings.edge_ca_file:
            self._http = http_for(self.settings)
        return self._http
