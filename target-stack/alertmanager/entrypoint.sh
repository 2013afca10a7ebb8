#!/bin/sh
# Picks the routing profile and starts a single Alertmanager (no gossip cluster).
set -eu
profile="${ALERT_PROFILE:-production}"
case "$profile" in
    production|development) ;;
    *) echo "ALERT_PROFILE must be production or development, not $profile" >&2; exit 1 ;;
esac
echo "alertmanager: $profile profile" >&2
exec prometheus-alertmanager --config.file="/etc/alertmanager/$profile.yml" --storage.path=/alertmanager \
    --web.listen-address=:9093 --cluster.listen-address= --log.level=info
