#!/bin/bash
# Run once by Patroni on the node that initialises the cluster: the app's role, database
# and schema. Replicas get them through replication. (Local connections are trusted.)
set -euo pipefail
: "${POSTGRES_USER:=devsim}" "${POSTGRES_DB:=devsim}"
sock=/var/run/postgresql
psql -v ON_ERROR_STOP=1 -q -h "$sock" -U postgres -d postgres <<SQL
SELECT 'CREATE ROLE "$POSTGRES_USER" LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$POSTGRES_USER')\gexec
ALTER ROLE "$POSTGRES_USER" PASSWORD '$POSTGRES_PASSWORD';
SELECT 'CREATE DATABASE "$POSTGRES_DB" OWNER "$POSTGRES_USER"' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$POSTGRES_DB')\gexec
SQL
psql -v ON_ERROR_STOP=1 -q -h "$sock" -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f /usr/local/share/devsim/schema.sql
