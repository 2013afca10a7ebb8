#!/bin/sh
# Fills the desired app replicas into the alert rules, checks them, then starts Prometheus
# (lifecycle and admin APIs off: nothing on the network can stop it or delete series).
# Every target is scraped at least every 5 s, so a 15 s lookback (not the default 5 min) keeps
# queries and alerts to what runs now: a Prometheus restarted after `devsim down` writes no
# staleness markers for the previous stack's targets, whose last samples would otherwise count
# (twice the app replicas, two load balancers) for five minutes.
set -eu
case "${DEVSIM_PROFILE:-production}" in
    production) keep='' ;;
    development) keep='/# production only/,$d' ;;  # no load balancer, no Patroni: their rules go
    *) echo "DEVSIM_PROFILE must be production or development, not ${DEVSIM_PROFILE}" >&2; exit 1 ;;
esac
sed -e "s/__APP_REPLICAS__/${APP_REPLICAS:-3}/g" -e "$keep" /etc/prometheus/rules.tmpl.yml > /etc/prometheus/rules/devsim.yml
promtool check rules /etc/prometheus/rules/devsim.yml >&2
exec prometheus --config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/prometheus \
    --storage.tsdb.retention.time=2d --web.listen-address=:9090 \
    --query.lookback-delta=15s \
    --web.console.templates=/etc/prometheus/consoles --web.console.libraries=/etc/prometheus/console_libraries
