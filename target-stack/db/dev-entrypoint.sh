#!/bin/bash
# The development profile's database: one PostgreSQL, no Patroni, no replicas. At its first
# start (an empty volume) it creates the app's role, database and schema as the production
# cluster's bootstrap does, then loads the seed data; later starts keep what is there.
set -euo pipefail
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
share=/usr/local/share/devsim
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    bash "$share/post_bootstrap.sh"
    psql -v ON_ERROR_STOP=1 -q -h /var/run/postgresql -U "${POSTGRES_USER:-devsim}" -d "${POSTGRES_DB:-devsim}" \
        -f "$share/seed.sql"
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "development database created and seeded" >&2
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c log_min_messages=warning
