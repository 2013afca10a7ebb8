"""The harness's one error hierarchy.

Every error carries what the user needs to act on it; only the CLI turns an error
into a line on stderr and an exit code.
"""

from __future__ import annotations

from collections.abc import Sequence


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str = "", details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = list(details)

    def one_line(self) -> str:
        """The single line the CLI prints."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(HarnessError):
    """Bad arguments or input files."""


class Interrupted(HarnessError):
    """Ctrl-C or SIGTERM that a command let finish a step it must not cut short, then obeyed."""


class ConfigError(HarnessError):
    """A setting in the environment or a config file is invalid."""


class InfrastructureError(HarnessError):
    """Docker, the stack or one of its services did not do what was needed."""


class EngineUnavailable(InfrastructureError):
    """The Docker engine cannot be reached, or is not a Swarm manager."""


class PortInUse(InfrastructureError):
    """A port the stack publishes is held by something else."""


class CommandFailed(InfrastructureError):
    """An external command exited non-zero; keeps the argv, exit code and output."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        tail = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
        super().__init__(
            f"`{' '.join(argv)}` exited {returncode}: {tail[0]}",
            details=(stderr or stdout).strip().splitlines()[-20:],
        )
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class BuildFailed(InfrastructureError):
    """An image build failed; names the image and the failing step, with the log's tail."""


class NotReady(InfrastructureError):
    """Something did not become ready within its timeout; carries its last log lines."""


class NoSuchService(InfrastructureError):
    """The stack has no service by that name (it is not up, or the name is wrong)."""
