#!/bin/bash
# Sets the roles' passwords from the Docker secrets, on the leader only (replicas follow by
# replication): after the bootstrap, and from `devsim up` once the cluster has a leader, so
# that a secret made anew (removed by hand, then `devsim up`) is what the cluster takes.
# (Patroni's on_start and on_role_change callbacks did not run it after a `down` and `up`
# with the volumes kept: the leader started as one, without a role change.)
# Also makes the exporters' role, `monitor`, a member of pg_monitor and nothing more.
# The passwords are read inside psql (\set with a backtick command): never in an argument.
# What reaches the server is each password's SCRAM-SHA-256 verifier (scram-verifier.py), not
# the password: a statement's text can be logged, and is shown in pg_stat_activity.
set -uo pipefail
: "${POSTGRES_USER:=devsim}"
sock=/var/run/postgresql
for _ in $(seq 30); do
    state="$(psql -h "$sock" -U postgres -d postgres -Atc 'SELECT pg_is_in_recovery()' 2>/dev/null)" && break
    sleep 1
done
[ "${state:-}" = f ] || exit 0
psql -v ON_ERROR_STOP=1 -q -h "$sock" -U postgres -d postgres -v app="$POSTGRES_USER" <<'SQL'
\set su_pw `python3 /usr/local/share/devsim/scram-verifier.py < /run/secrets/db_superuser_password`
\set repl_pw `python3 /usr/local/share/devsim/scram-verifier.py < /run/secrets/db_replication_password`
\set mon_pw `python3 /usr/local/share/devsim/scram-verifier.py < /run/secrets/db_monitor_password`
\set app_pw `python3 /usr/local/share/devsim/scram-verifier.py < /run/secrets/db_password`
SELECT 'CREATE ROLE monitor LOGIN IN ROLE pg_monitor' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'monitor')\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', r.name, r.pw)
  FROM (VALUES ('postgres', :'su_pw'), ('replicator', :'repl_pw'), ('monitor', :'mon_pw'), (:'app', :'app_pw')) AS r(name, pw)
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = r.name)\gexec
SQL
