#!/bin/bash
# A Patroni node: writes patroni.yml from the environment and runs Patroni as PID 1, so
# that killing the container kills PostgreSQL with it (a real node crash).
set -euo pipefail
: "${PATRONI_NAME:?PATRONI_NAME must be set (db1, db2, ...)}"
# The passwords are Docker secrets, read from files; none is in the environment.
secret() {
    [ -s "/run/secrets/$1" ] || { echo "the secret $1 is missing (/run/secrets/$1): run \`devsim up\`" >&2; exit 1; }
    cat "/run/secrets/$1"
}
SUPERUSER_PASSWORD="$(secret db_superuser_password)"
REPLICATION_PASSWORD="$(secret db_replication_password)"
API_PASSWORD="$(secret patroni_api_password)"
ETCD_PASSWORD="$(secret etcd_patroni_password)"
: "${ETCD_HOSTS:=etcd:2379}" "${PATRONI_SCOPE:=devsim}"
# The leader lease and loop, tuned for fast failover within Patroni's limits (ttl >= 20):
# loop_wait + 2 * retry_timeout <= ttl, i.e. 2 + 2 * 9 = 20. The harness sets these (and
# synchronous_mode) again through Patroni's REST API after every `devsim up`.
: "${PATRONI_TTL:=20}" "${PATRONI_LOOP_WAIT:=2}" "${PATRONI_RETRY_TIMEOUT:=9}"

# The REST API is announced by address, not by name. Patroni's etcd client replaces urllib3's
# connect function with one that caches DNS answers for 10 minutes, and the members' API
# calls (switchover candidates, the failover race) go through it: a node restarted with a new
# address stayed unreachable for its peers, so a switchover to it was refused ("no good
# candidates") for minutes. The address is written to the DCS again at every start.
# PostgreSQL's own connect_address keeps the name: libpq resolves it afresh on every connect.
api_address="$(hostname -i | awk '{print $1}')"
: "${api_address:=${PATRONI_NAME}}"

# TLS: the server's key is a Docker secret readable by everyone in the container (0444);
# PostgreSQL wants its own copy, 0600 and its owner's. Certificate and CA are public configs.
ca=/run/configs/tls_ca.pem
cert=/run/configs/tls_db_cert.pem
[ -s "$ca" ] && [ -s "$cert" ] || { echo "the stack's CA or the database certificate is missing: run \`devsim up\`" >&2; exit 1; }
key="$(secret tls_db_key)"
mkdir -p -m 0700 /tmp/pgssl
(umask 077; printf '%s\n' "$key" > /tmp/pgssl/server.key)
unset key

# pgBackRest: this node pushes its WAL to both repository hosts (backup: repository 1;
# offsite: repository 2, the off-site copy) and runs pgBackRest's TLS server, through which
# they take backups from it. Both sides present the database certificate and check it
# against the stack's CA.
# WAL_ARCHIVING=off (a switch): the stack keeps no WAL stream beyond its backups. pgBackRest
# still archives the WAL a backup spans (a backup is not consistent without it), but no
# segment is switched by time, and a restore goes only to the end of the newest backup.
: "${STANZA:=devsim}" "${WAL_ARCHIVING:=on}" "${WAL_ARCHIVE_TIMEOUT:=60}"
case "$WAL_ARCHIVING" in
    on) ;;
    off) WAL_ARCHIVE_TIMEOUT=0 ;;
    *) echo "WAL_ARCHIVING must be on or off, not ${WAL_ARCHIVING}" >&2; exit 1 ;;
esac
backrest=/tmp/pgbackrest.conf
{
    echo "[global]"
    for n in 1 2; do
        host=backup; [ "$n" = 2 ] && host=offsite
        printf 'repo%s-host=%s\nrepo%s-path=/var/lib/pgbackrest/repo%s\nrepo%s-host-type=tls\n' "$n" "$host" "$n" "$n" "$n"
        printf 'repo%s-host-ca-file=%s\nrepo%s-host-cert-file=%s\nrepo%s-host-key-file=%s\n' \
            "$n" "$ca" "$n" "$cert" "$n" /tmp/pgssl/server.key
    done
    printf 'tls-server-address=*\ntls-server-ca-file=%s\ntls-server-cert-file=%s\ntls-server-key-file=%s\n' \
        "$ca" "$cert" /tmp/pgssl/server.key
    printf 'tls-server-auth=db1=%s\nlog-level-console=warn\nlog-level-file=off\n' "$STANZA"
    printf 'lock-path=/tmp/pgbackrest-lock\nspool-path=/tmp/pgbackrest-spool\narchive-timeout=30\n'
    printf '\n[%s]\npg1-path=%s\npg1-socket-path=/var/run/postgresql\n' "$STANZA" "$PGDATA"
} > "$backrest"
pgbackrest --config="$backrest" server &
archive_command="pgbackrest --config=$backrest --stanza=$STANZA archive-push %p"

# A restore (`devsim restore`) is ordered through etcd: the harness stops every node, writes
# {"id", "repo", "target"} to /service/<scope>-restore and removes the cluster's keys. A node
# that sees an order it has not carried out empties its data directory (once: the id is kept
# in the volume), and Patroni, finding no cluster, bootstraps it with pgBackRest's restore
# (restore.sh) on the node that wins the race; the others clone that one.
# etcd may still be starting (or setting its users up) with the rest of the stack: ask for a
# minute before giving up (Swarm then restarts the node, 45 s later).
order="" asked=""
for _ in $(seq 30); do
    if order="$(ETCDCTL_API=3 ETCDCTL_USER="patroni:${ETCD_PASSWORD}" etcdctl --endpoints="http://${ETCD_HOSTS}" \
            --dial-timeout=2s --command-timeout=5s get --print-value-only "/devsim/restore/${PATRONI_SCOPE}" 2>/dev/null)"; then
        asked=yes
        break
    fi
    sleep 2
done
[ -n "$asked" ] || { echo "etcd did not answer for a minute: cannot tell whether a restore is ordered" >&2; exit 1; }
bootstrap_method=initdb
restore_repo=1 restore_target=latest
if [ -n "$order" ]; then
    restore_id="$(printf '%s' "$order" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
    restore_repo="$(printf '%s' "$order" | python3 -c 'import json,sys; print(json.load(sys.stdin)["repo"])')"
    restore_target="$(printf '%s' "$order" | python3 -c 'import json,sys; print(json.load(sys.stdin)["target"])')"
    bootstrap_method=pgbackrest
    marker=/var/lib/postgresql/data/restore-id
    if [ "$(cat "$marker" 2>/dev/null)" != "$restore_id" ]; then
        echo "restore $restore_id ordered (repository $restore_repo, target $restore_target): emptying $PGDATA" >&2
        rm -rf "$PGDATA"
        printf '%s\n' "$restore_id" > "$marker"
    fi
fi
export RESTORE_REPO="$restore_repo" RESTORE_TARGET="$restore_target" PGBACKREST_CONFIG="$backrest" STANZA WAL_ARCHIVING
# Patroni writes these recovery settings (and recovery.signal) after restore.sh: WAL from the
# repository, to the target (or, without a WAL stream, only to the end of the backup), then promote.
recovery_target="recovery_target_timeline: latest"
if [ "$WAL_ARCHIVING" = off ]; then
    recovery_target="recovery_target: immediate"
elif [ "$restore_target" != latest ]; then
    recovery_target="recovery_target_time: '${restore_target}'"
fi

# The harness changes the cluster through the REST API from inside this container, with curl
# reading the credentials from this file (never from an argument).
umask 077
printf 'user = "patroni:%s"\n' "$API_PASSWORD" > /tmp/patroni-api.curlrc
config=/tmp/patroni.yml
cat > "$config" <<YAML
scope: ${PATRONI_SCOPE}
name: ${PATRONI_NAME}
log:
  level: WARNING
restapi:
  listen: 0.0.0.0:8008
  connect_address: ${api_address}:8008
  authentication: {username: patroni, password: "${API_PASSWORD}"}
etcd3:
  hosts: ${ETCD_HOSTS}
  username: patroni
  password: "${ETCD_PASSWORD}"
bootstrap:
  method: ${bootstrap_method}
  # Only when a restore is ordered (see above): restore.sh fills the data directory, Patroni
  # writes the recovery settings.
  pgbackrest:
    command: /usr/local/share/devsim/restore.sh
    keep_existing_recoveryconf: false
    no_params: true
    recovery_conf:
      restore_command: pgbackrest --config=${backrest} --stanza=${STANZA} --repo=${restore_repo} archive-get %f "%p"
      recovery_target_action: promote
      ${recovery_target}
  dcs:
    ttl: ${PATRONI_TTL}
    loop_wait: ${PATRONI_LOOP_WAIT}
    retry_timeout: ${PATRONI_RETRY_TIMEOUT}
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 200
        wal_log_hints: "on"
        wal_keep_size: 256MB
        log_min_messages: warning
  initdb:
    - encoding: UTF8
    - auth-local: trust
  post_bootstrap: /usr/local/share/devsim/post_bootstrap.sh
postgresql:
  listen: 0.0.0.0:5432
  connect_address: ${PATRONI_NAME}:5432
  data_dir: ${PGDATA}
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: /tmp/pgpass
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
  # A replica clones the leader with pg_basebackup, which by default waits for a *spread*
  # checkpoint (checkpoint_completion_target of checkpoint_timeout: 93 s measured on a fresh
  # cluster). A fast checkpoint makes a fresh cluster whole in seconds.
  basebackup:
    - checkpoint: fast
  authentication:
    superuser: {username: postgres, password: "${SUPERUSER_PASSWORD}", sslmode: verify-full, sslrootcert: ${ca}}
    replication: {username: replicator, password: "${REPLICATION_PASSWORD}", sslmode: verify-full, sslrootcert: ${ca}}
  pg_hba:
    # Over the network, TLS only (replication too): a plain-text connection is refused before
    # any password is asked.
    - local all all trust
    - hostssl replication replicator 0.0.0.0/0 scram-sha-256
    - hostssl all all 0.0.0.0/0 scram-sha-256
    - hostnossl all all 0.0.0.0/0 reject
    - hostnossl replication all 0.0.0.0/0 reject
  parameters:
    unix_socket_directories: /var/run/postgresql
    ssl: "on"
    ssl_cert_file: ${cert}
    ssl_key_file: /tmp/pgssl/server.key
    ssl_min_protocol_version: TLSv1.2
    # Continuous WAL archiving to both repositories; a segment is switched at least every
    # archive_timeout seconds, which bounds how much a restore to the latest point can lose.
    archive_mode: "on"
    archive_command: "${archive_command}"
    archive_timeout: ${WAL_ARCHIVE_TIMEOUT}
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
YAML
exec patroni "$config"
