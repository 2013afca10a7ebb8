"""What a container holds beyond its inspect output and its log, for the secret search
(`records`): the arguments of every process it runs (ARGUMENTS, a script for the driver's
exec), and every file written to its own writable layer, which lives on the host's disk
and outlives the container while the engine keeps it (Swarm keeps a service's exited
tasks). A tmpfs is not in the layer: that is where the stack's services keep the files they
make from secrets.

Where the engine is on this host with the overlay2 storage driver, the layer is read where
it lies (the container's UpperDir): the engine's own `diff` compares the whole image with
the layer here and takes 0.4 to 2 s a container. Elsewhere, through the engine's diff and
archive API.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
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
    upper = upper_dir(container)
    if upper is not None:
        yield from files_under(upper)
        return
    try:
        changes = container.diff() or []
    except DockerException:
        return
    paths = sorted(c["Path"] for c in changes if c.get("Kind") in ADDED_OR_CHANGED)
    for path in paths[:MOST_FILES]:
        text = _read(container, path)
        if text is not None:
            yield path, text


def upper_dir(container: Any) -> Path | None:
    """The container's writable layer on this host's disk, if the engine keeps it here with
    overlay2 and it can be read; None otherwise."""
    graph = (getattr(container, "attrs", None) or {}).get("GraphDriver") or {}
    upper = (graph.get("Data") or {}).get("UpperDir")
    if graph.get("Name") != "overlay2" or not upper or not os.access(upper, os.R_OK | os.X_OK):
        return None
    return Path(upper)


def files_under(upper: Path) -> Iterator[tuple[str, str]]:
    """(path in the container, text) of each regular file in a layer's folder, by path, up to
    MOST_FILES of at most LARGEST_FILE bytes each (a deletion's whiteout is a device, and a
    mount point of a file, such as /run/secrets/*, an empty file in the layer: both skipped)."""
    found: list[str] = []
    for folder, dirs, names in os.walk(upper):
        dirs.sort()
        found += (os.path.join(folder, n) for n in names)
    paths = sorted(f for f in found if stat.S_ISREG(os.lstat(f).st_mode))
    for path in paths[:MOST_FILES]:
        try:
            if not 0 < os.path.getsize(path) <= LARGEST_FILE:
                continue
            with open(path, "rb") as handle:
                text = handle.read(LARGEST_FILE).decode("utf-8", "replace")
        except OSError:  # removed meanwhile
            continue
        yield "/" + os.path.relpath(path, upper), text


def _read(container: Any, path: str) -> str | None:
    try:
        stream, found = container.get_archive(path)
    except DockerException:
        return None
    if not isinstance(found, dict) or found.get("size", 0) > LARGEST_FILE or found.get("mode", 0) & GO_MODE_DIR:
        return None  # too large, or a directory
    try:
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = next((m for m in tar.getmembers() if m.isfile()), None)
            handle = tar.extractfile(member) if member is not None else None
            return handle.read(LARGEST_FILE).decode("utf-8", "replace") if handle is not None else None
    except (tarfile.TarError, DockerException):
        return None
