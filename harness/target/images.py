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
                       "alertmanager", "mailsink")),
    )


# What every run's report charts of the server side (an experiment adds its own series).
REPORT_SERIES: tuple[dict[str, str], ...] = (
    {"title": "ready app replicas (load balancer view)", "unit": "replicas",
     "query": 'sum by (proxy) (haproxy_backend_active_servers{proxy="app"})'},
    {"title": "load balancer responses per second", "unit": "responses/s",
     "query": 'sum by (code) (rate(haproxy_frontend_http_responses_total{code=~"2xx|4xx|5xx"}[5s]))'},
    {"title": "app replicas by version", "unit": "replicas", "query": "count by (version) (app_info)"},
    {"title": "database leaders (Patroni)", "unit": "leaders", "query": "sum(patroni_primary)"},
    {"title": "replication lag by replica (leader WAL minus WAL received)", "unit": "bytes",
     "query": "scalar(max(patroni_xlog_location)) - (patroni_xlog_received_location and on (instance) "
              "(patroni_replica == 1))"},
    {"title": "app server p95 latency", "unit": "s",
     "query": "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5s])))"},
)

LB_IN_ROTATION = 'sum(haproxy_backend_active_servers{job="lb",proxy="app"})'
