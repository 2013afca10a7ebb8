"""Credentials given with `--var` stay out of the run's files.

A run's folder is meant to be shared (attached to a ticket, published by CI), and Chaos
Toolkit's journal repeats the experiment's configuration, `--var` values included. A value
whose name looks like a credential is used as given and written as "[redacted]", wherever it
appears in experiment.json and journal.json (an argument or an output that repeats it too).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
CREDENTIAL = re.compile(r"pass(word|wd|phrase)?|secret|token|credential|api[_-]?key|private[_-]?key|auth|cookie",
                        re.IGNORECASE)
SHORTEST_SUBSTRING = 4  # a shorter value is redacted only where it is a whole string


def credentials(variables: Mapping[str, Any]) -> tuple[str, ...]:
    """The values of the variables whose names look like credentials, longest first."""
    found = {str(v) for k, v in variables.items() if CREDENTIAL.search(str(k)) and str(v)}
    return tuple(sorted(found, key=len, reverse=True))


def scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` (JSON-like) with every secret replaced by REDACTED."""
    if not secrets:
        return value
    if isinstance(value, Mapping):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            if value == secret:
                return REDACTED
            if len(secret) >= SHORTEST_SUBSTRING and secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if not isinstance(value, bool) and str(value) in secrets:  # --var-file may give numbers
        return REDACTED
    return value
