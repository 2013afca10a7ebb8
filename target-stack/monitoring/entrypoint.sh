#!/bin/sh
# Fills the desired app replicas into the alert rules, checks them, then starts Prometheus.
# Every target is scraped at least every 5 s, so a 15 s lookback (not the default 5 min) keeps
# queries and alerts to what runs now: a Prometheus restarted after `devsim down` writes no
# staleness markers for the previous stack's targets, whose last samples would otherwise count
# (twice the app replicas, two load balancers) for five minutes.
set -eu
sed "s/__APP_REPLICAS__/${APP_REPLICAS:-3}/g" /etc/prometheus/rules.tmpl.yml > /etc/prometheus/rules/devsim.yml
promtool check rules /etc/prometheus/rules/devsim.yml >&2
exec prometheus --config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/prometheus \
    --storage.tsdb.retention.time=2d --web.listen-address=:9090 --web.enable-lifecycle \
    --query.lookback-delta=15s
