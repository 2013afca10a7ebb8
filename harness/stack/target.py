"""What the generic core asks of the stack it runs.

The lifecycle (`up`, `down`, the wait for the steady state), `devsim load` and `devsim run`
know Swarm, stack.yml and switches.yml, but not this stack's services: what its published
ports are called, which secrets and certificates it needs, when it serves, what else runs
beside it. A wing under `harness/target/` answers (`harness.target.devsim.DevsimStack` for
the DevOps Simulator stack); the command's composition root hands it in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.config import Settings
from harness.driver import StackDriver
from harness.metrics.series import ServerSignal
from harness.progress import Progress
from harness.stack.images import ImageSpec
from harness.stack.switches import Switch
from harness.stack.waiting import Waiter


@dataclass(frozen=True)
class Published:
    """A port the stack publishes on the host: the service that holds it, and the setting
    that moves it."""

    service: str
    port: int
    variable: str


class TargetStack(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def stop_last(self) -> tuple[str, ...]:
        """Services `down` stops after every other one."""

    @property
    def release_service(self) -> str:
        """The service `devsim deploy` rolls to a new release."""

    @property
    def kept_volumes(self) -> dict[str, str]:
        """Volumes `down --volumes` keeps unless the user names them: {the name the user gives
        (a `down` flag), the volume's short name}."""

    def images(self, stack: str) -> tuple[ImageSpec, ...]:
        """The images `up` builds, each from its folder beside stack.yml."""

    def report_series(self) -> tuple[dict[str, str], ...]:
        """The server-side series every run's report charts (title, unit, Prometheus query)."""

    def server_signals(self) -> dict[str, ServerSignal]:
        """The server-side signs of a fault that time to detect is measured by, by name."""

    def published(self, settings: Settings) -> tuple[Published, ...]:
        """The ports `up` needs free (those its own running services hold excepted)."""

    def deploy_env(self, settings: Settings) -> dict[str, str]:
        """stack.yml's ${...} values that come from the settings (ports, replicas)."""

    def fast_rollout(self) -> dict[str, str]:
        """stack.yml's ${...} values for `up`'s first pass: its changes roll out at once."""

    def before_up(self, driver: StackDriver, settings: Settings, progress: Progress) -> None:
        """Before anything is deployed (another profile gives its ports back)."""

    def prepare(self, driver: StackDriver, settings: Settings, progress: Progress) -> dict[str, str]:
        """Secrets and certificates made or kept, and the CA the harness trusts written; the
        ${...} values that name them."""

    def wait_ready(self, driver: StackDriver, settings: Settings, progress: Progress, waiter: Waiter,
                   first: bool) -> None:
        """Once every service is healthy: waits until the stack serves; raises NotReady.
        `first`: the deploy's first pass, when runtime configuration is set from the switches."""

    def after_up(self, driver: StackDriver, settings: Settings) -> None:
        """After `up` (what the new deploy no longer uses goes)."""

    def remove_extras(self, driver: StackDriver, settings: Settings, progress: Progress) -> list[str]:
        """`down`: what runs outside the engine's stack; one line per kind removed."""

    def meet(self, driver: StackDriver, settings: Settings) -> Settings:
        """A command meets the stack that runs: the settings to reach it with (and its CA
        written); raises HarnessError when it cannot tell."""

    def before_experiment(self, driver: StackDriver, settings: Settings, progress: Progress) -> None:
        """Before an experiment's load starts: the stack back at the state its steady-state
        hypotheses start from (an autoscaled count back at its floor)."""

    def other_profile(self, driver: StackDriver) -> str | None:
        """The profile that runs instead of the one experiments judge; None when none does."""

    def load_client(self, driver: StackDriver) -> tuple[str, str] | None:
        """The OAuth2 client id and secret the load signs in with; None when it needs none."""

    def audit_writes(self, driver: StackDriver, settings: Settings, request_log: Path,
                     progress: Progress) -> dict[str, Any] | None:
        """The write audit of a run from its request log; None when the stack has no database."""

    def switch_reader(self, driver: StackDriver, settings: Settings) -> Callable[[Switch], str | None]:
        """Reads the switches whose value no service shows (None where it cannot)."""
