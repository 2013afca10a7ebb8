"""What a container holds beyond its inspect output and its log, for the secret search
(`records`): the arguments of every process it runs (ARGUMENTS, a script for the driver's
exec), and every file written to its own writable layer, which lives on the host's disk
and outlives the container while the engine keeps it (Swarm keeps a service's exited
tasks). A tmpfs is not in the layer: that is where the stack's services keep the files they
make from secrets.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from typing import Any

from docker.errors import DockerException

ARGUMENTS = "for f in /proc/[0-9]*/cmdline; do tr '\\000' ' ' < \"$f\"; echo; done"
LARGEST_FILE = 1 << 20  # bytes of a file read; a secret is far smaller, a database file far larger
MOST_FILES = 500  # per container: a layer with more written to it is read in part
GO_MODE_DIR = 1 << 31  # Docker's archive stat gives Go's file mode: os.ModeDir
ADDED_OR_CHANGED = (0, 1)  # `docker diff` kinds: 0 changed, 1 added, 2 deleted


def written_files(container: Any) -> Iterator[tuple[str, str]]:
    """(path, text) of each regular file written to the container's writable layer, running
    or exited, up to MOST_FILES of at most LARGEST_FILE bytes each."""
    try:
        changes = container.diff() or []
    except DockerException:
        return
    paths = sorted(c["Path"] for c in changes if c.get("Kind") in ADDED_OR_CHANGED)
    for path in paths[:MOST_FILES]:
        text = _read(container, path)
        if text is not None:
            yield path, text


def _read(container: Any, path: str) -> str | None:
    try:
        stream, stat = container.get_archive(path)
    except DockerException:
        return None
    if not isinstance(stat, dict) or stat.get("size", 0) > LARGEST_FILE or stat.get("mode", 0) & GO_MODE_DIR:
        return None  # too large, or a directory
    try:
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = next((m for m in tar.getmembers() if m.isfile()), None)
            handle = tar.extractfile(member) if member is not None else None
            return handle.read(LARGEST_FILE).decode("utf-8", "replace") if handle is not None else None
    except (tarfile.TarError, DockerException):
        return None
