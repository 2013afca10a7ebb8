#!/bin/bash
# Run once by Patroni on the node that initialises the cluster (and by the development
# profile's first start): the app's role, database and schema. Replicas get them through
# replication. (Local connections are trusted.) The roles' passwords come from the Docker
# secrets (sync-roles.sh); the development profile gives the app's in POSTGRES_PASSWORD.
set -euo pipefail
: "${POSTGRES_USER:=devsim}" "${POSTGRES_DB:=devsim}"
sock=/var/run/postgresql
psql -v ON_ERROR_STOP=1 -q -h "$sock" -U postgres -d postgres -v app="$POSTGRES_USER" -v db="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'app') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'app') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
SQL
if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    psql -v ON_ERROR_STOP=1 -q -h "$sock" -U postgres -d postgres -v app="$POSTGRES_USER" <<'SQL'
\set pw `printenv POSTGRES_PASSWORD | python3 /usr/local/share/devsim/scram-verifier.py`
SELECT format('ALTER ROLE %I PASSWORD %L', :'app', :'pw')\gexec
SQL
else
    bash /usr/local/share/devsim/sync-roles.sh
fi
# As the superuser acting as the app's role (its objects are the app's): after a restore,
# Patroni's bootstrap lets only the superuser in over the socket.
psql -v ON_ERROR_STOP=1 -q -h "$sock" -U postgres -d "$POSTGRES_DB" -c "SET ROLE \"$POSTGRES_USER\"" \
    -f /usr/local/share/devsim/schema.sql
