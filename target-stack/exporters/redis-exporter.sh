#!/bin/sh
# Redis's exporter with the stack's Redis password. Its --redis.password-file wants a JSON map
# of addresses to passwords, so the password goes to it in REDIS_PASSWORD, set here for the
# exporter's process only: the service's own environment (docker inspect) never holds it.
set -eu
if [ -s /run/secrets/redis_password ] && [ "${REDIS_AUTH:-on}" != off ]; then
    REDIS_PASSWORD="$(cat /run/secrets/redis_password)"
    export REDIS_PASSWORD
fi
exec prometheus-redis-exporter "$@"
