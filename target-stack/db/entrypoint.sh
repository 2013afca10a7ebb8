#!/bin/bash
# First start: initdb and the app's role and database. Every start: the schema.
set -euo pipefail
: "${POSTGRES_USER:=devsim}" "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}" "${POSTGRES_DB:=devsim}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --username=postgres --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
fi

pg_ctl -D "$PGDATA" -o "-c listen_addresses=127.0.0.1" -w start >/dev/null
psql -v ON_ERROR_STOP=1 -q -U postgres -d postgres <<SQL
SELECT 'CREATE ROLE "$POSTGRES_USER" LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$POSTGRES_USER')\gexec
ALTER ROLE "$POSTGRES_USER" PASSWORD '$POSTGRES_PASSWORD';
SELECT 'CREATE DATABASE "$POSTGRES_DB" OWNER "$POSTGRES_USER"' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$POSTGRES_DB')\gexec
SQL
psql -v ON_ERROR_STOP=1 -q -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f /usr/local/share/devsim/schema.sql
pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null

exec postgres -D "$PGDATA" -c listen_addresses='*' -c max_connections=200 -c log_min_messages=warning
