"""The images of the DevOps Simulator stack, each built from its folder beside stack.yml."""

from __future__ import annotations

from harness.stack.images import ImageSpec

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
                       "alertmanager", "mailsink", "autoscaler")),
    )
