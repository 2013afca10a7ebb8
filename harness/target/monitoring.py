"""What the harness reads of the DevOps Simulator stack's Prometheus: the series every run's
report charts, and the load balancer's view that time to detect is measured by."""

from __future__ import annotations

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
    # the autoscaler's view: the count it found, the count it decided, and the load it read
    {"title": "autoscaler: app replicas found and decided", "unit": "replicas",
     "query": 'label_replace(devsim_autoscaler_current_replicas, "is", "found", "", "") or '
              'label_replace(devsim_autoscaler_desired_replicas, "is", "decided", "", "")'},
    {"title": "autoscaler: the app's requests per second it read", "unit": "requests/s",
     "query": "devsim_autoscaler_load"},
)

LB_IN_ROTATION = 'sum(haproxy_backend_active_servers{job="lb",proxy="app"})'
