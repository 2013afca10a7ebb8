"""Which of the stack's built images `down --volumes` removes: those no current tag names."""

from __future__ import annotations

from pathlib import Path

from harness.stack.images import ImageSpec, context_digest, folder_digest, outdated


def test_older_content_tags_go_and_the_current_ones_stay() -> None:
    images = [
        ("sha256:new", ["devsim/app:v1", "devsim/app:v1-aaaaaaaaaaaa"]),  # current: the plain tag names it
        ("sha256:old", ["devsim/app:v1-bbbbbbbbbbbb"]),  # an earlier build of v1
        ("sha256:lb", ["devsim/lb:latest", "devsim/lb:latest-cccccccccccc"]),
        ("sha256:lbold", ["devsim/lb:latest-dddddddddddd", "devsim/lb:latest-eeeeeeeeeeee"]),
        ("sha256:none", []),  # a build whose every tag moved on
    ]
    assert outdated(images) == ["devsim/app:v1-bbbbbbbbbbbb", "devsim/lb:latest-dddddddddddd",
                                "devsim/lb:latest-eeeeeeeeeeee", "sha256:none"]


def test_a_version_that_only_looks_like_a_content_tag_is_kept() -> None:
    # v2-crash is a plain tag (no 12-hex suffix), so its image is current
    assert outdated([("sha256:x", ["devsim/app:v2-crash"]), ("sha256:y", ["devsim/app:v2-crash-0123456789ab"])]) \
        == ["devsim/app:v2-crash-0123456789ab"]


def test_nothing_built_removes_nothing() -> None:
    assert outdated([]) == []


def test_the_context_digest_changes_with_any_input_and_only_then(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM debian:bookworm-slim\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.js").write_text("1")
    spec = ImageSpec("app", "devsim/app", "v1", "APP_IMAGE", (("APP_VERSION", "v1"),))
    first = context_digest(folder_digest(tmp_path), spec, "sha256:base")
    assert context_digest(folder_digest(tmp_path), spec, "sha256:base") == first
    seen = {first}
    (tmp_path / "sub" / "a.js").write_text("2")  # an edited file
    seen.add(context_digest(folder_digest(tmp_path), spec, "sha256:base"))
    (tmp_path / "b.sh").write_text("")  # a new file
    seen.add(context_digest(folder_digest(tmp_path), spec, "sha256:base"))
    (tmp_path / "b.sh").chmod(0o755)  # made executable
    seen.add(context_digest(folder_digest(tmp_path), spec, "sha256:base"))
    seen.add(context_digest(folder_digest(tmp_path), spec, "sha256:newbase"))  # another base image
    v2 = ImageSpec("app", "devsim/app", "v2", None, (("APP_VERSION", "v2"),))
    seen.add(context_digest(folder_digest(tmp_path), v2, "sha256:newbase"))  # other build arguments
    assert len(seen) == 6
