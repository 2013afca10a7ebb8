"""Which of the stack's built images `down --volumes` removes: those no current tag names."""

from __future__ import annotations

from harness.stack.images import outdated


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
