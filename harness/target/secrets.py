"""The stack's secrets: generated at the first `up` (random, per stack), kept by the engine as
Docker secrets and mounted as files (`/run/secrets/<name>`) into the services that need them.

No secret is in an environment variable, an image, the stack file or a log: stack.yml names
each secret, and the harness gives `docker stack deploy` only the engine's name for it. The
values never touch the host's disk; the harness reads one back (the OAuth client's, to get
tokens for the load) from a container that mounts it. A secret lives as long as the data it
protects: `down` keeps them, `down --volumes` removes them with the volumes. One removed by
hand is made anew at the next `up`, which then sets the roles' passwords from the files on
the database leader (target-stack/db/sync-roles.sh), so the cluster follows.
"""

from __future__ import annotations

import secrets as random
from collections.abc import Mapping
from pathlib import Path

import yaml

from harness.driver import ContainerInfo, StackDriver
from harness.errors import InfrastructureError, NoSuchService
from harness.progress import Progress

# name -> how its value is made. `oauth_clients` is the app's client list, `id:secret,...`.
SECRETS: dict[str, str] = {
    "db_password": "the app's database role (devsim)",
    "db_superuser_password": "PostgreSQL's superuser (postgres)",
    "db_replication_password": "the replication role (replicator)",
    "db_monitor_password": "the exporters' pg_monitor role (monitor)",
    "jwt_signing_key": "the app's token signing key",
    "oauth_clients": "the OAuth2 clients the app knows (the load test's)",
    "redis_password": "Redis's password",
    "patroni_api_password": "Patroni's REST API, for changes",
    "etcd_root_password": "etcd's root user",
    "etcd_patroni_password": "etcd's patroni user",
}
LOAD_CLIENT = "loadtest"
READ_CLIENTS = 'cat "${OAUTH_CLIENTS_FILE:-/nonexistent}" 2>/dev/null || printf %s "$OAUTH_CLIENTS"'


def env_name(name: str) -> str:
    """The stack.yml variable that carries the engine's name of secret `name`."""
    return f"SECRET_{name.upper()}"


def new_value(name: str) -> str:
    value = random.token_urlsafe(32)
    return f"{LOAD_CLIENT}:{value}" if name == "oauth_clients" else value


def ensure(driver: StackDriver, progress: Progress) -> dict[str, str]:
    """Creates the secrets the stack lacks; returns stack.yml's variables naming them all."""
    have = driver.secrets()
    missing = [name for name in SECRETS if name not in have]
    if missing:
        fresh = len(missing) == len(SECRETS)
        progress.step(("generating the stack's secrets" if fresh else
                       f"generating missing secrets: {', '.join(missing)}") + " (kept as Docker secrets)")
        for name in missing:
            have[name] = driver.create_secret(name, new_value(name))
    return {env_name(name): engine_name for name, engine_name in have.items() if name in SECRETS}


def read(driver: StackDriver, name: str, service: str = "app") -> str:
    """A secret's value, read from a running task of `service` that mounts it. Each running
    task is asked in turn, as in `client_secret`: right after an `up`, a replaced task may
    exit under the question (CI: the security experiment's unsigned-token probe, in the run
    of a control that had just redeployed the app, read nothing from such a one)."""
    running = driver.containers(service)
    if not running:
        raise InfrastructureError(f"cannot read the stack's {name}: no {service} container runs")
    found, why = first_answer(driver, running, ["cat", f"/run/secrets/{name}"])
    if not found:
        raise InfrastructureError(f"cannot read the stack's {name} from {service}: {why or 'no answer'}")
    return found


def first_answer(driver: StackDriver, containers: list[ContainerInfo], argv: list[str]) -> tuple[str, str]:
    """(output, "") of the first container that runs `argv` with success and says something,
    each asked in turn; ("", the first failure's last words) when none does."""
    why = ""
    for container in containers:
        code, out = driver.exec(container, argv)
        if code == 0 and out.strip():
            return out.strip(), ""
        why = why or out.strip()[-200:]
    return "", why


def running_containers(driver: StackDriver, service: str) -> list[ContainerInfo]:
    """The running containers of `service`: its tasks', or the development profile's; at
    least one."""
    try:
        found = driver.containers(service)
    except NoSuchService:
        found = [c for c in driver.plain_containers({"devsim.service": service}) if c.status == "running"]
    if not found:
        raise InfrastructureError(f"no {service} container is running", hint="run `devsim up` first")
    return found


def running_container(driver: StackDriver, service: str) -> ContainerInfo:
    """A running container of `service`: a task's, or the development profile's."""
    return running_containers(driver, service)[0]


def client_secret(driver: StackDriver) -> tuple[str, str]:
    """(client id, secret) of the load test's OAuth2 client, as the running app knows it.
    The development profile has no secrets: its app reads the list from its environment.
    Each running app container is asked in turn until one answers: right after an `up`, a
    replaced task may still be draining and exit under the question (CI: the security
    experiment's token probe read no client at all from such a one)."""
    clients, _ = first_answer(driver, running_containers(driver, "app"), ["sh", "-c", READ_CLIENTS])
    return parse_client(clients, LOAD_CLIENT)


def parse_client(clients: str, client_id: str) -> tuple[str, str]:
    for pair in clients.strip().split(","):
        cid, _, secret = pair.partition(":")
        if cid.strip() == client_id and secret.strip():
            return client_id, secret.strip()
    raise InfrastructureError(f"the app knows no OAuth2 client {client_id!r}")


def mounted_by(stack_dir: Path) -> dict[str, list[str]]:
    """{secret: the services stack.yml mounts it into}."""
    doc = yaml.safe_load((stack_dir / "stack.yml").read_text())
    found: dict[str, list[str]] = {}
    for service, spec in (doc.get("services") or {}).items():
        for entry in spec.get("secrets") or ():
            found.setdefault(entry if isinstance(entry, str) else entry["source"], []).append(service)
    return found


# The development profile has no secrets: these variables of its containers hold the same.
DEVELOPMENT_ENV = {"JWT_SECRET": "jwt_signing_key", "OAUTH_CLIENTS": "oauth_clients", "PGPASSWORD": "db_password",
                   "POSTGRES_PASSWORD": "db_password"}


def values(driver: StackDriver, stack_dir: Path) -> dict[str, str]:
    """Every secret's value as the running stack uses it (for the OAuth2 clients, their
    secrets), read from inside the containers: the production profile's Docker secrets, or
    the development profile's plain-text variables."""
    found: dict[str, str] = {}
    if driver.services():
        for name, services in mounted_by(stack_dir).items():
            found[name] = read(driver, name, services[0])
    else:
        for container in driver.plain_containers({}):
            code, out = driver.exec(container, ["env"])
            for line in out.splitlines() if code == 0 else ():
                key, _, value = line.partition("=")
                if key in DEVELOPMENT_ENV and value:
                    found[DEVELOPMENT_ENV[key]] = value
    for name, value in found.items():  # a key file: its longest line, as a JSON text would hold it
        if value.startswith("-----BEGIN"):
            found[name] = max(value.splitlines(), key=len)
    if "oauth_clients" in found:
        found["oauth_clients"] = ",".join(pair.partition(":")[2] for pair in found["oauth_clients"].split(","))
    return found


def values_in(text: str, values: Mapping[str, str]) -> list[str]:
    """The names of the secrets whose value appears in `text`."""
    return sorted(name for name, value in values.items() if value and value in text)
