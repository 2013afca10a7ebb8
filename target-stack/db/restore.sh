#!/bin/bash
# Patroni's custom bootstrap for a restore (entrypoint.sh): fills the empty data directory from
# a pgBackRest repository, to the latest archived WAL or to a point in time, and leaves the
# recovery settings for PostgreSQL, which replays the WAL and then promotes.
set -euo pipefail
: "${RESTORE_REPO:?}" "${RESTORE_TARGET:?}" "${PGBACKREST_CONFIG:?}" "${STANZA:?}" "${PGDATA:?}"
args=(--config="$PGBACKREST_CONFIG" --stanza="$STANZA" --repo="$RESTORE_REPO" --pg1-path="$PGDATA"
      --log-level-console=info)
if [ "$RESTORE_TARGET" = latest ] && [ "${WAL_ARCHIVING:-on}" = off ]; then
    args+=(--type=immediate --target-action=promote)  # the end of the backup, no WAL beyond it
elif [ "$RESTORE_TARGET" = latest ]; then
    args+=(--type=default)
else
    args+=(--type=time "--target=$RESTORE_TARGET" --target-action=promote)
fi
echo "restore.sh: pgbackrest restore ${args[*]}" >&2
exec pgbackrest "${args[@]}" restore
