"""The seam to the container engine: `StackDriver` and its Docker Swarm implementation."""

from __future__ import annotations

from harness.driver.base import (
    ContainerOps,
    ImageOps,
    PlainOps,
    PortOps,
    SecretOps,
    ServiceOps,
    StackDriver,
    StackOps,
)
from harness.driver.model import ContainerInfo, Containment, ImageInfo, JobSpec, PlainSpec, ServiceInfo, TaskInfo

__all__ = ["ContainerInfo", "ContainerOps", "Containment", "ImageInfo", "ImageOps", "JobSpec", "PlainOps", "PlainSpec",
           "PortOps", "SecretOps", "ServiceInfo", "ServiceOps", "StackDriver", "StackOps", "TaskInfo", "driver_for"]


def driver_for(stack: str) -> StackDriver:
    """The driver of the stack named `stack` on the engine this machine's Docker settings
    name (DOCKER_HOST or the local socket): the one factory every caller uses."""
    from harness.driver.swarm import SwarmDriver
    return SwarmDriver(stack)
