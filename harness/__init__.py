"""DevOps Simulator: a chaos and load-testing harness for the DevOps Simulator stack."""

from harness.version import __version__

__all__ = ["__version__", "discover"]


def discover(discover_system: bool = True) -> dict[str, object]:
    """Chaos Toolkit's discovery hook: `chaos discover --no-install devops-simulator`."""
    from harness.chaos.discovery import discover as describe

    return describe(discover_system)
