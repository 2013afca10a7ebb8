#!/bin/sh
# Fills the desired app replicas into the alert rules, checks them, then starts Prometheus.
set -eu
sed "s/__APP_REPLICAS__/${APP_REPLICAS:-3}/g" /etc/prometheus/rules.tmpl.yml > /etc/prometheus/rules/devsim.yml
promtool check rules /etc/prometheus/rules/devsim.yml >&2
exec prometheus --config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/prometheus \
    --storage.tsdb.retention.time=2d --web.listen-address=:9090 --web.enable-lifecycle
