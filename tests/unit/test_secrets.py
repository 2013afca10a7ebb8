"""The stack's secrets (issue 16): made at random once, kept by the engine, found where they
must not be. Against the fake engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.chaos import engine, security
from harness.config import PROJECT_ROOT
from harness.driver import driver_for
from harness.errors import InfrastructureError
from harness.progress import Progress
from harness.target import secrets
from tests.unit.fakedriver import FakeDriver

STACK_DIR = PROJECT_ROOT / "target-stack"


def quiet() -> Progress:
    return Progress(quiet=True)


def test_the_first_up_makes_every_secret_at_random_and_names_them_for_stack_yml() -> None:
    fake = FakeDriver()
    env = secrets.ensure(fake, quiet())
    assert env == {f"SECRET_{n.upper()}": f"devsim_secret_{n}" for n in secrets.SECRETS}
    assert "SECRET_JWT_SIGNING_KEY" in env
    assert "SECRET_DB_PASSWORD" in env
    values = fake.secret_values
    assert len(values) == 10
    assert len(set(values.values())) == 10
    assert all(len(v) >= 43 for v in values.values())  # 32 random bytes, base64url
    client_id, _, secret = values["oauth_clients"].partition(":")
    assert client_id == "loadtest"
    assert len(secret) == 43


def test_a_later_up_keeps_them_and_makes_only_one_removed_by_hand() -> None:
    fake = FakeDriver()
    secrets.ensure(fake, quiet())
    before = dict(fake.secret_values)
    fake.calls.clear()
    secrets.ensure(fake, quiet())
    assert [c for c in fake.calls if c.startswith("create_secret")] == []
    del fake.secret_values["redis_password"]
    secrets.ensure(fake, quiet())
    assert [c for c in fake.calls if c.startswith("create_secret")] == ["create_secret redis_password"]
    assert fake.secret_values["redis_password"] != before["redis_password"]
    assert {k: v for k, v in fake.secret_values.items() if k != "redis_password"} == \
        {k: v for k, v in before.items() if k != "redis_password"}


def test_stack_yml_mounts_each_secret_where_it_is_used() -> None:
    mounted = secrets.mounted_by(STACK_DIR)
    assert set(mounted) == {*secrets.SECRETS, "tls_db_key", "tls_edge_key"}
    assert mounted["jwt_signing_key"] == ["app"]
    assert mounted["etcd_root_password"] == ["etcd"]
    assert set(mounted["db_monitor_password"]) == {"db1", "db2", "db3", "postgres-exporter-db1",
                                                   "postgres-exporter-db2", "postgres-exporter-db3"}


@pytest.mark.parametrize(("clients", "found"), [
    ("loadtest:s3cret", ("loadtest", "s3cret")),
    ("other:x, loadtest:y ", ("loadtest", "y")),
])
def test_the_load_client_is_read_from_the_apps_list(clients: str, found: tuple[str, str]) -> None:
    assert secrets.parse_client(clients, "loadtest") == found


@pytest.mark.parametrize("clients", ["", "other:x", "loadtest:", "loadtest"])
def test_no_load_client_is_an_error_naming_it(clients: str) -> None:
    with pytest.raises(InfrastructureError, match="no OAuth2 client 'loadtest'"):
        secrets.parse_client(clients, "loadtest")


@pytest.fixture
def fake() -> Iterator[FakeDriver]:
    """Every service that mounts a secret, with the secrets made; the probes' engine."""
    services = {name: 1 for names in secrets.mounted_by(STACK_DIR).values() for name in names}
    driver = FakeDriver(services=services)
    secrets.ensure(driver, quiet())
    driver.secret_values["tls_db_key"] = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n-----END PRIVATE KEY-----"
    driver.secret_values["tls_edge_key"] = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMH\n-----END PRIVATE KEY-----"
    engine.use_factory(lambda _stack: driver)
    yield driver
    engine.use_factory(driver_for)


def test_a_secret_in_an_inspect_output_or_a_log_is_found_with_where(fake: FakeDriver) -> None:
    key, password = fake.secret_values["jwt_signing_key"], fake.secret_values["db_password"]
    client_secret = fake.secret_values["oauth_clients"].partition(":")[2]
    fake.engine_records = {
        "service app (inspect)": f'{{"Env": ["JWT_SECRET={key}"]}}',
        "container devsim_db1.1.x (log)": f"connecting with password {password}\n",
        "image devsim/app:v1 (inspect)": f'[{{"history": "ARG CLIENT={client_secret}"}}]',
        "container devsim_cache.1.y (inspect)": '{"Env": ["REDIS_AUTH=on"]}',
    }
    assert security.secrets_exposed().split("; ") == [
        "db_password in container devsim_db1.1.x (log)",
        "oauth_clients in image devsim/app:v1 (inspect)",
        "jwt_signing_key in service app (inspect)",
    ]


def test_nothing_found_reads_none(fake: FakeDriver) -> None:
    fake.engine_records = {"service app (inspect)": '{"Env": ["JWT_SECRET_FILE=/run/secrets/jwt_signing_key"]}'}
    assert security.secrets_exposed() == "none"


def first_app_container_exits(driver: FakeDriver, monkeypatch: pytest.MonkeyPatch, says: str) -> None:
    """The first app container fails every exec, saying `says` (a task exiting after an `up`)."""
    answer = driver.exec
    first = driver.containers("app")[0].name

    def exec_(container, argv, user="", detach=False, timeout=300.0):  # type: ignore[no-untyped-def]
        return (1, says) if container.name == first else answer(container, argv, user, detach, timeout)

    monkeypatch.setattr(driver, "exec", exec_)


def test_the_load_client_is_read_from_an_app_container_that_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first app container exits under the question (a task replaced by the last `up`,
    draining): the next one is asked."""
    driver = FakeDriver(services={"app": 3})
    driver.secret_values["oauth_clients"] = "loadtest:s3cret,other:x"
    first_app_container_exits(driver, monkeypatch, "Error response from daemon: container is not running\n")
    assert secrets.client_secret(driver) == ("loadtest", "s3cret")
    monkeypatch.setattr(driver, "exec", lambda *a, **k: (1, "gone\n"))  # none answers: the same one-line error
    with pytest.raises(InfrastructureError, match="the app knows no OAuth2 client 'loadtest'"):
        secrets.client_secret(driver)


def test_a_secret_is_read_from_an_app_container_that_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """As for the load client: the first app container exits under the question."""
    driver = FakeDriver(services={"app": 3})
    driver.secret_values["jwt_signing_key"] = "k3y"
    first_app_container_exits(driver, monkeypatch, "")
    assert secrets.read(driver, "jwt_signing_key") == "k3y"
    monkeypatch.setattr(driver, "exec", lambda *a, **k: (1, ""))  # none answers: one line that says so
    with pytest.raises(InfrastructureError, match=r"^cannot read the stack's jwt_signing_key from app: no answer$"):
        secrets.read(driver, "jwt_signing_key")
