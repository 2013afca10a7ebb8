"""The stack's images: the Debian base (pulled, or made with debootstrap) and our builds.

Every image is built FROM debian:bookworm-slim with Debian packages only, because no
other registry can be reached from inside a build on the machines this runs on.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.driver import ImageOps, commands
from harness.errors import CommandFailed, HarnessError, InfrastructureError
from harness.progress import Progress

BASE_IMAGE = "debian:bookworm-slim"
CONTEXT_LABEL = "devsim.context"  # the digest of what the image was built from
DEBIAN_MIRROR = "http://deb.debian.org/debian"
SHARED = "shared"  # target-stack/shared/: in every build context as shared/ (the health check)


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


def content_tag(spec: ImageSpec, image_id: str) -> str:
    """A tag that changes whenever the image does, so a redeploy rolls out a rebuilt image.

    Without a registry Swarm cannot pin images by digest; a tag that is the same for a
    changed image would leave the old containers running.
    """
    digest = image_id.split(":", 1)[-1]
    return f"{spec.repo}:{spec.version}-{digest[:12]}"


def ensure_base_image(driver: ImageOps, progress: Progress) -> str:
    """Makes sure debian:bookworm-slim exists (present, pulled, or built with debootstrap);
    returns its id."""
    if (found := driver.image(BASE_IMAGE)) is not None:
        return found.id
    progress.step(f"pulling {BASE_IMAGE}")
    try:
        driver.pull(BASE_IMAGE)
    except HarnessError as exc:
        progress.step(f"{exc.one_line()}; making it with debootstrap")
        _debootstrap_base(driver, progress)
    found = driver.image(BASE_IMAGE)
    if found is None:
        raise InfrastructureError(f"{BASE_IMAGE} is still missing after it was made")
    return found.id


def _debootstrap_base(driver: ImageOps, progress: Progress) -> None:
    if shutil.which("debootstrap") is None:
        raise InfrastructureError(
            f"{BASE_IMAGE} can neither be pulled nor made: debootstrap is not installed",
            hint="apt-get install debootstrap, or run `bash scripts/setup.sh`",
        )
    with tempfile.TemporaryDirectory(prefix="devsim-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        try:
            commands.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR], timeout=1800)
        except CommandFailed as exc:
            raise InfrastructureError(f"debootstrap of {BASE_IMAGE} failed (exit {exc.returncode})",
                                      details=(exc.stdout + exc.stderr).strip().splitlines()[-10:]) from exc
        progress.step(f"importing {BASE_IMAGE}")
        driver.import_rootfs(rootfs, BASE_IMAGE)


def build_images(driver: ImageOps, specs: tuple[ImageSpec, ...], stack_dir: Path,
                 progress: Progress) -> dict[str, str]:
    """Builds every image of `specs` (the target stack's) that changed; an unchanged one is
    not even handed to the builder.

    Returns the stack.yml variables (APP_IMAGE, ...) set to each image's content tag.
    """
    base = ensure_base_image(driver, progress)
    shared_dir = stack_dir / SHARED
    shared = folder_digest(shared_dir)
    folders: dict[Path, str] = {}  # a folder may serve several images (releases): read it once
    env: dict[str, str] = {}
    for spec in specs:
        context = stack_dir / spec.service
        if context not in folders:
            folders[context] = folder_digest(context) + shared
        digest = context_digest(folders[context], spec, base)
        image_id = _built(driver, spec, digest) or build_one(driver, context, shared_dir, spec, progress, digest)
        tag = content_tag(spec, image_id)
        driver.tag(image_id, tag)
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


def _built(driver: ImageOps, spec: ImageSpec, digest: str) -> str | None:
    """The id of the image already built from exactly this context, or None. Skipping the
    build saves Docker's cache walk (about a second an image, 15 images, every `up`)."""
    image = driver.image(spec.tag)
    return image.id if image is not None and image.labels.get(CONTEXT_LABEL) == digest else None


def build_one(driver: ImageOps, context: Path, shared_dir: Path, spec: ImageSpec, progress: Progress,
              digest: str = "") -> str:
    """Builds one image, reporting each Dockerfile step; returns the image id. The build
    context is a copy of the image's folder with `shared_dir` (target-stack/shared/) in it
    as shared/."""
    progress.step(f"building {spec.tag}")
    with tempfile.TemporaryDirectory(prefix=f"devsim-build-{spec.service}-") as tmp:
        merged = Path(tmp) / spec.service
        shutil.copytree(context, merged, symlinks=True)
        shutil.copytree(shared_dir, merged / SHARED, symlinks=True)
        image_id = driver.build(merged, spec.tag, dict(spec.build_args), {CONTEXT_LABEL: digest},
                                lambda step: progress.update(f"building {spec.tag}: {step[:100]}"))
    progress.done()
    return image_id


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


def remove_outdated(driver: ImageOps) -> int:
    """Removes the images this stack built that no current tag names (older builds), so
    rebuilds do not fill the disk. The base image is not the stack's and stays. Returns
    how many tags (or untagged images) went; an image still used by a container stays."""
    stale = outdated([(i.id, list(i.tags)) for i in driver.images(built_by_stack=True)])
    return sum(1 for ref in stale if driver.remove_image(ref))
