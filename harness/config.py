"""Settings, read once into a frozen object: defaults, then DEVSIM_* variables, then flags."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where and how the stack runs."""

    stack: str = "devsim"
    stack_dir: Path = PROJECT_ROOT / "target-stack"
    reports_dir: Path = PROJECT_ROOT / "reports"
    lb_port: int = 8080  # plain HTTP: answers with a redirect to HTTPS (the development profile: the app)
    lb_tls_port: int = 8443  # HTTPS, the production profile's way in
    prometheus_port: int = 9090
    pushgateway_port: int = 9091
    mailsink_port: int = 8025
    replicas: int = 3
    up_timeout: float = 300.0
    down_timeout: float = 120.0
    poll_interval: float = 1.0
    # 127.0.0.1: the published ports answer on loopback only (Swarm publishes on every
    # address; `up` fences them); 0.0.0.0: on every interface, for a stack others must reach.
    bind: str = "127.0.0.1"
    # switches set on top of the shipped defaults (target-stack/switches.yml), e.g.
    # APP_GRACEFUL_SHUTDOWN=false to switch a safety mechanism off for a negative control.
    overrides: tuple[tuple[str, str], ...] = ()
    # The production profile serves HTTPS at the edge; the development profile plain HTTP.
    tls: bool = True
    # Where the harness keeps what is public and must outlive a command: the stack's CA.
    state_dir: Path = Path.home() / ".local" / "state" / "devsim"

    @property
    def label(self) -> str:
        """The Docker label key=value that fences everything the harness owns."""
        return f"devsim.stack={self.stack}"

    @property
    def stack_overrides(self) -> dict[str, str]:
        return dict(self.overrides)

    @property
    def published_ports(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in PORT_FIELDS)

    @property
    def lb_url(self) -> str:
        """Where clients reach the app: HTTPS at the load balancer (the development profile:
        the app itself, plain HTTP)."""
        return f"https://127.0.0.1:{self.lb_tls_port}" if self.tls else self.lb_plain_url

    @property
    def lb_plain_url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    @property
    def ca_file(self) -> Path:
        """The stack's CA certificate, as the harness trusts it (written by `up`)."""
        return self.state_dir / f"{self.stack}-ca.pem"

    @property
    def edge_ca_file(self) -> Path | None:
        """The CA the edge's HTTPS is verified against; None for the development profile's
        plain HTTP."""
        return self.ca_file if self.tls else None

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def pushgateway_url(self) -> str:
        return f"http://127.0.0.1:{self.pushgateway_port}"

    @property
    def mailsink_url(self) -> str:
        return f"http://127.0.0.1:{self.mailsink_port}"

    def replace(self, **changes: object) -> Settings:
        """A copy with the given fields changed, skipping the ones given as None."""
        given = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **given)  # type: ignore[arg-type]


# variable -> (setting, type, what it is): the settings reference (docs/reference/settings.md)
# is generated from this table.
ENV_FIELDS: dict[str, tuple[str, type, str]] = {
    "DEVSIM_STACK": ("stack", str, "the stack's name and Docker label: a second name (with ports of its own) is a "
                     "second stack on the same engine"),
    "DEVSIM_STACK_DIR": ("stack_dir", Path, "the folder with stack.yml, switches.yml and the images' build folders"),
    "DEVSIM_REPORTS_DIR": ("reports_dir", Path, "where each run's folder and the reports' index go (a stack "
                           "other than `devsim`: `reports/<stack>` unless set)"),
    "DEVSIM_LB_PORT": ("lb_port", int, "plain HTTP at the load balancer: a redirect to HTTPS (the development "
                       "profile: the app)"),
    "DEVSIM_LB_TLS_PORT": ("lb_tls_port", int, "HTTPS at the load balancer, the way in"),
    "DEVSIM_PROMETHEUS_PORT": ("prometheus_port", int, "Prometheus"),
    "DEVSIM_PUSHGATEWAY_PORT": ("pushgateway_port", int, "the Pushgateway the load generator pushes to"),
    "DEVSIM_MAILSINK_PORT": ("mailsink_port", int, "the on-call mailbox's HTTP API"),
    "DEVSIM_REPLICAS": ("replicas", int, "app replicas (1 to 10)"),
    "DEVSIM_UP_TIMEOUT": ("up_timeout", float, "seconds `up` waits for every service to be healthy"),
    "DEVSIM_DOWN_TIMEOUT": ("down_timeout", float, "seconds `down` waits for every object to go"),
    "DEVSIM_BIND": ("bind", str, "`127.0.0.1`: the published ports answer on loopback only; `0.0.0.0`: on every "
                    "interface"),
    "DEVSIM_STATE_DIR": ("state_dir", Path, "where `up` writes the stack's CA certificate (`<stack>-ca.pem`)"),
}

# DEVSIM_PORT_BLOCK=N moves every published port that no DEVSIM_*_PORT names by N * 10000
# (block 2: 28080, 28443, 29090, 29091, 28025): one variable per stack for a second stack.
PORT_BLOCK_VAR = "DEVSIM_PORT_BLOCK"
PORT_BLOCK_SIZE = 10000
PORT_BLOCKS = range(0, 6)  # block 5's highest port, 59091, is still a port
PORT_FIELDS = ("lb_port", "lb_tls_port", "prometheus_port", "pushgateway_port", "mailsink_port")


def _port_block(environ: Mapping[str, str], given: Mapping[str, object]) -> dict[str, int]:
    raw = environ.get(PORT_BLOCK_VAR, "")
    if raw == "":
        return {}
    try:
        block = int(raw)
    except ValueError:
        raise ConfigError(f"{PORT_BLOCK_VAR}={raw!r} is not a valid int") from None
    if block not in PORT_BLOCKS:
        raise ConfigError(f"{PORT_BLOCK_VAR}={raw!r}: a block from {PORT_BLOCKS.start} to {PORT_BLOCKS.stop - 1}")
    defaults = Settings()
    return {name: getattr(defaults, name) + block * PORT_BLOCK_SIZE for name in PORT_FIELDS if name not in given}


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Defaults overridden by DEVSIM_* variables; a bad value names the variable."""
    values: dict[str, object] = {}
    for var, (name, kind, _) in ENV_FIELDS.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        try:
            values[name] = kind(raw)
        except ValueError:
            raise ConfigError(f"{var}={raw!r} is not a valid {kind.__name__}") from None
    values.update(_port_block(environ, values))
    if "reports_dir" not in values and values.get("stack", Settings.stack) != Settings.stack:
        values["reports_dir"] = Settings.reports_dir / str(values["stack"])  # a second stack's runs apart
    settings = Settings().replace(**values)
    validate(settings)
    return settings


STACK_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
BINDS = ("127.0.0.1", "0.0.0.0")


def validate(settings: Settings) -> None:
    if not 1 <= settings.replicas <= 10:
        raise ConfigError(f"replicas must be between 1 and 10, got {settings.replicas}")
    ports = {name: getattr(settings, name) for name in PORT_FIELDS}
    for name, port in ports.items():
        if not 1 <= port <= 65535:
            raise ConfigError(f"{name} must be a TCP port (1-65535), got {port}")
    if settings.bind not in BINDS:
        raise ConfigError(f"DEVSIM_BIND={settings.bind!r}: the published ports bind to {' or '.join(BINDS)}",
                          hint="127.0.0.1: loopback only (the default); 0.0.0.0: every interface")
    if len(set(ports.values())) != len(ports):
        raise ConfigError(f"the published ports must differ, got {ports}")
    if not STACK_NAME.fullmatch(settings.stack):
        raise ConfigError(f"stack name {settings.stack!r} must be 1 to 32 lower-case letters, digits and '-', "
                          "starting with a letter or digit (it names images and engine objects)")
    if not (settings.stack_dir / "stack.yml").is_file():
        raise ConfigError(f"no stack.yml in {settings.stack_dir}", hint="set DEVSIM_STACK_DIR")


def parse_overrides(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    """KEY=VALUE strings from the command line into settings overrides."""
    out: list[tuple[str, str]] = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        out.append((key, value))
    return tuple(out)
