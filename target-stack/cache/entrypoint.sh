#!/bin/bash
# Redis for sessions, with a password when the stack gives one (the Docker secret
# redis_password; the development profile has none) and REDIS_AUTH is not "off" (the switch
# for a negative control). The password goes into a config file
# that only the redis user reads, never into an argument.
set -euo pipefail
conf=/tmp/redis.conf
umask 077
{
    echo "bind 0.0.0.0"
    echo "save \"\""
    echo "appendonly no"
    # Sessions only, each with its token's lifetime: 64 MB holds some 500,000. Full, Redis
    # refuses new sessions (the token route answers 503) rather than evict live ones, which
    # would log clients out at random (noeviction; the container's limit is 128 MB).
    echo "maxmemory 64mb"
    echo "maxmemory-policy noeviction"
    if [ -s /run/secrets/redis_password ] && [ "${REDIS_AUTH:-on}" != off ]; then
        echo "protected-mode yes"
        echo "requirepass $(cat /run/secrets/redis_password)"
    else
        echo "protected-mode no"
    fi
} > "$conf"
exec redis-server "$conf"
