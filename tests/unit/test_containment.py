"""The containment probe (harness/chaos/containment.py): each bound a container lacks is
named, read from the engine's own inspect output (HostConfig), so that a stack without
limits, with a capability added back or a writable root fails its claim in
experiments/security-baseline.yaml. The real stack's containers: test_security.py; the
development profile, which sets no bound: test_development_profile.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from harness.chaos import containment, engine
from harness.driver import ContainerInfo, Containment, driver_for
from harness.driver.docker_objects import _containment
from tests.unit.fakedriver import FakeDriver

STACK = "devsim-containment"
BOUND = Containment(cap_drop=("ALL",), read_only=True, memory=256 << 20, pids=128, nano_cpus=10**9,
                    log_max_size="10m", user="10001:10001")

# HostConfig as Docker 20.10 reports it for a contained task, and for a plain `docker run`
HARDENED = {"HostConfig": {"CapDrop": ["ALL"], "CapAdd": None, "ReadonlyRootfs": True, "Memory": 268435456,
                           "PidsLimit": 128, "NanoCpus": 1000000000,
                           "LogConfig": {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}},
            "Config": {"User": "10001:10001"}}
PLAIN = {"HostConfig": {"CapDrop": None, "CapAdd": None, "ReadonlyRootfs": False, "Memory": 0, "PidsLimit": None,
                        "NanoCpus": 0, "LogConfig": {"Type": "json-file", "Config": {}}}, "Config": {"User": ""}}


def test_the_engines_inspect_output_is_read_into_its_bounds() -> None:
    assert _containment(HARDENED) == BOUND
    assert _containment(PLAIN) == Containment()
    unlimited = {"HostConfig": {"PidsLimit": -1, "LogConfig": {"Type": "local", "Config": {"max-size": "1m"}}}}
    assert _containment(unlimited) == Containment()


def test_a_contained_container_lacks_nothing() -> None:
    assert containment.problems(BOUND) == []


def test_each_missing_bound_is_named() -> None:
    assert containment.problems(Containment()) == [
        "capabilities not dropped", "root filesystem writable", "no memory limit", "no pids limit", "no CPU limit",
        "logs not rotated"]


@pytest.mark.parametrize(("change", "named"), [
    ({"cap_drop": ("NET_RAW",)}, "capabilities not dropped"),
    ({"cap_add": ("SYS_ADMIN", "NET_ADMIN")}, "capabilities added (SYS_ADMIN, NET_ADMIN)"),
    ({"read_only": False}, "root filesystem writable"),
    ({"memory": 0}, "no memory limit"),
    ({"pids": 0}, "no pids limit"),
    ({"nano_cpus": 0}, "no CPU limit"),
    ({"log_max_size": ""}, "logs not rotated"),
])
def test_one_bound_off_is_the_only_one_named(change: Mapping[str, Any], named: str) -> None:
    found = Containment(**{**BOUND.__dict__, **change})
    assert containment.problems(found) == [named]


class Containers(FakeDriver):
    def __init__(self, found: list[ContainerInfo]) -> None:
        super().__init__(STACK)
        self.found = found

    def plain_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        return list(self.found)


@pytest.fixture
def use() -> Iterator[list[ContainerInfo]]:
    found: list[ContainerInfo] = []
    engine.use_factory(lambda stack: Containers(found) if stack == STACK else FakeDriver(stack, services={}))
    yield found
    engine.use_factory(driver_for)


CONFIG = {"devsim_stack": STACK, "lb_url": "http://127.0.0.1:9", "prometheus_url": "http://127.0.0.1:9",
          "mailsink_url": "http://127.0.0.1:9", "devsim_ca_file": ""}


def test_the_probe_names_each_running_container_that_lacks_a_bound(use: list[ContainerInfo]) -> None:
    use += [ContainerInfo("1", "devsim_app.1", "app", "t1", containment=BOUND),
            ContainerInfo("2", "devsim_app.2", "app", "t2", containment=Containment(**{**BOUND.__dict__, "pids": 0})),
            ContainerInfo("3", "devsim_cache.1", "cache", "t3", containment=Containment()),
            ContainerInfo("4", "devsim_db1.old", "db1", "t0", status="exited", containment=Containment())]
    assert containment.uncontained(configuration=CONFIG) == (
        "app: no pids limit; cache: capabilities not dropped, root filesystem writable, no memory limit, "
        "no pids limit, no CPU limit, logs not rotated")


def test_a_stack_of_contained_containers_says_none(use: list[ContainerInfo]) -> None:
    use += [ContainerInfo("1", "devsim_app.1", "app", "t1", containment=BOUND)]
    assert containment.uncontained(configuration=CONFIG) == "none"


def test_no_running_container_is_not_none(use: list[ContainerInfo]) -> None:
    use += [ContainerInfo("4", "devsim_db1.old", "db1", "t0", status="exited", containment=Containment())]
    with pytest.raises(ActivityFailed) as caught:
        containment.uncontained(configuration=CONFIG)
    assert str(caught.value) == "the stack runs no container (is it up?)"


def running_as(service: str, user: str, n: int = 1) -> ContainerInfo:
    return ContainerInfo(f"{service}{n}", f"devsim_{service}.{n}", service, "t",
                         containment=Containment(**{**BOUND.__dict__, "user": user}))


def test_users_of_more_than_one_service_are_named_with_the_services(use: list[ContainerInfo]) -> None:
    use += [running_as("app", "10001:10001"), running_as("app", "10001:10001", 2), running_as("lb", "10011:10011"),
            running_as("etcd", "postgres"), running_as("backup", "postgres"), running_as("db1", "postgres"),
            running_as("mailsink", "10003"), running_as("pushgateway", "10003:10003")]
    assert containment.shared_users(configuration=CONFIG) == (
        "10003: mailsink, pushgateway; postgres: backup, db1, etcd")


def test_the_replicas_of_one_server_may_share_a_user_and_nothing_else_may(use: list[ContainerInfo]) -> None:
    db = [["db1", "db2", "db3"]]
    use += [running_as("db1", "postgres"), running_as("db2", "postgres"), running_as("db3", "postgres"),
            running_as("etcd", "10014:10014"), running_as("app", "10001:10001")]
    assert containment.shared_users(db, configuration=CONFIG) == "none"
    use += [running_as("offsite", "postgres")]
    assert containment.shared_users(db, configuration=CONFIG) == "postgres: db1, db2, db3, offsite"


def test_a_service_run_as_root_is_named_whatever_else_shares_it(use: list[ContainerInfo]) -> None:
    use += [running_as("app", "10001:10001"), running_as("monitoring", ""), running_as("cache", "0:0")]
    assert containment.shared_users(configuration=CONFIG) == "root: cache, monitoring"


def test_the_engines_bind_mounts_are_read_with_their_host_paths() -> None:
    attrs = {**HARDENED, "Mounts": [
        {"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock"},
        {"Type": "volume", "Source": "/var/lib/docker/volumes/x/_data", "Destination": "/d"},
        {"Type": "tmpfs", "Source": "", "Destination": "/tmp"}]}
    assert _containment(attrs).binds == ("/var/run/docker.sock",)
    assert _containment(HARDENED).binds == ()


def test_each_service_holding_the_engines_socket_is_named(use: list[ContainerInfo]) -> None:
    def holding(service: str, *binds: str) -> ContainerInfo:
        return ContainerInfo(service, f"devsim_{service}.1", service, "t",
                             containment=Containment(**{**BOUND.__dict__, "binds": binds}))

    use += [holding("app"), holding("node-exporter", "/proc", "/sys", "/")]
    assert containment.engine_socket_holders(configuration=CONFIG) == "none"
    use += [holding("scaler-gate", "/var/run/docker.sock"), holding("lb", "/run/docker.sock/")]
    assert containment.engine_socket_holders(configuration=CONFIG) == "lb, scaler-gate"
