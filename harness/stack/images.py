"""The stack's images: the Debian base (pulled, or made with debootstrap) and our builds.

Every image is built FROM debian:bookworm-slim with Debian packages only, because no
other registry can be reached from inside a build on the machines this runs on.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.errors import APIError, DockerException, ImageNotFound

from harness.errors import BuildFailed, InfrastructureError
from harness.progress import Progress

BASE_IMAGE = "debian:bookworm-slim"
CONTEXT_LABEL = "devsim.context"  # the digest of what the image was built from
DEBIAN_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class ImageSpec:
    """One image of the stack: which folder it is built from and what stack.yml calls it."""

    service: str
    repo: str
    version: str
    env_var: str | None  # the stack.yml variable that names the image to deploy
    build_args: tuple[tuple[str, str], ...] = ()

    @property
    def tag(self) -> str:
        return f"{self.repo}:{self.version}"


BROKEN_RELEASES = ("crash", "never-ready", "errors", "slow")


def stack_images(stack: str) -> tuple[ImageSpec, ...]:
    """The images `devsim up` builds. The app comes in two good releases for rolling updates
    and broken v2 builds (v2-crash, ...) for the safe-deploy checks; they share every layer
    but the last, so they cost a few seconds to build."""
    return (
        ImageSpec("app", f"{stack}/app", "v1", "APP_IMAGE", (("APP_VERSION", "v1"),)),
        ImageSpec("app", f"{stack}/app", "v2", None, (("APP_VERSION", "v2"),)),
        *(ImageSpec("app", f"{stack}/app", f"v2-{b}", None, (("APP_VERSION", f"v2-{b}"), ("APP_BREAKAGE", b)))
          for b in BROKEN_RELEASES),
        *(ImageSpec(name, f"{stack}/{name}", "latest", f"{name.upper()}_IMAGE")
          for name in ("lb", "db", "dbrouter", "dbproxy", "cache", "monitoring", "pushgateway", "exporters",
                       "alertmanager",
                       "mailsink")),
    )


def content_tag(spec: ImageSpec, image_id: str) -> str:
    """A tag that changes whenever the image does, so a redeploy rolls out a rebuilt image.

    Without a registry Swarm cannot pin images by digest; a tag that is the same for a
    changed image would leave the old containers running.
    """
    digest = image_id.split(":", 1)[-1]
    return f"{spec.repo}:{spec.version}-{digest[:12]}"


def ensure_base_image(client: Any, progress: Progress) -> None:
    """Makes sure debian:bookworm-slim exists: present, pulled, or built with debootstrap."""
    try:
        client.images.get(BASE_IMAGE)
        return
    except ImageNotFound:
        pass
    progress.step(f"pulling {BASE_IMAGE}")
    try:
        client.images.pull(BASE_IMAGE)
        return
    except DockerException as exc:
        progress.step(f"cannot pull {BASE_IMAGE} ({str(exc).splitlines()[0][:120]}); making it with debootstrap")
    _debootstrap_base(progress)


def _debootstrap_base(progress: Progress) -> None:
    if shutil.which("debootstrap") is None:
        raise InfrastructureError(
            f"{BASE_IMAGE} can neither be pulled nor made: debootstrap is not installed",
            hint="apt-get install debootstrap, or run `bash scripts/setup.sh`",
        )
    with tempfile.TemporaryDirectory(prefix="devsim-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-10:]
            raise InfrastructureError(
                f"debootstrap of {BASE_IMAGE} failed (exit {done.returncode})", details=tail
            )
        progress.step(f"importing {BASE_IMAGE}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["docker", "import", "-", BASE_IMAGE], stdin=tar.stdout, capture_output=True, text=True,
            check=False,
        )
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise InfrastructureError(f"docker import of {BASE_IMAGE} failed: {imported.stderr.strip()}")


def build_images(
    client: Any, stack_dir: Path, stack: str, progress: Progress
) -> dict[str, str]:
    """Builds every image (Docker's layer cache makes repeats fast).

    Returns the stack.yml variables (APP_IMAGE, ...) set to each image's content tag.
    """
    ensure_base_image(client, progress)
    base = str(client.images.get(BASE_IMAGE).id)
    folders: dict[Path, str] = {}  # the app's folder serves seven images: read it once
    env: dict[str, str] = {}
    for spec in stack_images(stack):
        context = stack_dir / spec.service
        if context not in folders:
            folders[context] = folder_digest(context)
        digest = context_digest(folders[context], spec, base)
        image_id = _built(client, spec, digest) or build_one(client, context, spec, stack, progress, digest)
        tag = content_tag(spec, image_id)
        repo, _, version = tag.rpartition(":")
        client.images.get(image_id).tag(repo, version)
        if spec.env_var:
            env[spec.env_var] = tag
    return env


def folder_digest(context: Path) -> str:
    """Every file of a build folder: its path, whether it is executable, its bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(context)}\n{path.stat().st_mode & 0o111}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def context_digest(folder: str, spec: ImageSpec, base_id: str) -> str:
    """What an image is built from: its folder (`folder_digest`), its build arguments and the
    base image. The same digest means `docker build` would only hit its cache."""
    return hashlib.sha256(f"{base_id}\n{sorted(spec.build_args)}\n{folder}".encode()).hexdigest()[:24]


def _built(client: Any, spec: ImageSpec, digest: str) -> str | None:
    """The id of the image already built from exactly this context, or None. Skipping the
    build saves Docker's cache walk (about a second an image, 15 images, every `up`)."""
    try:
        image = client.images.get(spec.tag)
    except ImageNotFound:
        return None
    except DockerException as exc:
        raise InfrastructureError(f"cannot inspect {spec.tag}: {exc}") from exc
    return str(image.id) if (image.labels or {}).get(CONTEXT_LABEL) == digest else None


def build_one(client: Any, context: Path, spec: ImageSpec, stack: str, progress: Progress,
              digest: str = "") -> str:
    """Builds one image, reporting each Dockerfile step; returns the image id."""
    progress.step(f"building {spec.tag}")
    log: list[str] = []
    step = "before the first step"
    try:
        stream: Iterator[dict[str, Any]] = client.api.build(
            path=str(context), tag=spec.tag, buildargs=dict(spec.build_args), rm=True,
            forcerm=True, labels={"devsim.stack": stack, CONTEXT_LABEL: digest}, decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                raise BuildFailed(
                    f"building {spec.tag} failed at {step}: {chunk['error'].strip()}",
                    hint=f"Dockerfile in {context}", details=log[-15:],
                )
            text = str(chunk.get("stream", "")).rstrip()
            if not text:
                continue
            log.extend(text.splitlines())
            if text.startswith("Step "):
                step = text.split(" : ")[0].lower()
                progress.update(f"building {spec.tag}: {text[:100]}")
    except APIError as exc:
        raise BuildFailed(f"building {spec.tag} failed: {exc.explanation}", details=log[-15:]) from exc
    progress.done()
    return str(client.images.get(spec.tag).id)


_CONTENT_TAG = re.compile(r"^.+:.+-[0-9a-f]{12}$")


def outdated(images: list[tuple[str, list[str]]]) -> list[str]:
    """Of the stack's built images, each an (id, tags) pair: the ones no current tag names.

    Current tags are the plain ones (`devsim/app:v1`) and the content tag of the image a
    plain tag names; an older content tag (`devsim/app:v1-<old id>`) is outdated, and so
    is an image left with no tag at all. Returns what to remove: the outdated images' tags
    (the last one removed deletes the image), or the id of one with none.
    """
    current_ids = {image_id for image_id, tags in images
                   if any(not _CONTENT_TAG.match(t) for t in tags)}
    return [ref for image_id, tags in images if image_id not in current_ids for ref in (tags or [image_id])]


def remove_outdated(client: Any, stack: str) -> int:
    """Removes the images this stack built that no current tag names (older builds), so
    rebuilds do not fill the disk. The base image is not the stack's and stays. Returns
    how many tags (or untagged images) went; an image still used by a container stays."""
    try:
        built = client.images.list(filters={"label": f"devsim.stack={stack}"})
        stale = outdated([(str(i.id), list(i.tags)) for i in built])
        removed = 0
        for ref in stale:
            try:
                client.images.remove(ref, force=False, noprune=False)
                removed += 1
            except ImageNotFound:
                pass
            except APIError as exc:
                if exc.status_code != 409:  # 409: a container still uses it
                    raise
        return removed
    except DockerException as exc:
        raise InfrastructureError(f"cannot remove the stack's old images: {exc}") from exc
