#!/bin/bash
# Patroni's custom bootstrap for a restore (entrypoint.sh): fills the empty data directory from
# a pgBackRest repository, to the latest archived WAL or to a point in time, and leaves the
# recovery settings for PostgreSQL, which replays the WAL and then promotes.
set -euo pipefail
: "${RESTORE_REPO:?}" "${RESTORE_TARGET:?}" "${PGBACKREST_CONFIG:?}" "${STANZA:?}" "${PGDATA:?}"
args=(--config="$PGBACKREST_CONFIG" --stanza="$STANZA" --repo="$RESTORE_REPO" --pg1-path="$PGDATA"
      --log-level-console=info)
if [ "${WAL_ARCHIVING:-on}" = off ]; then
    # No WAL stream (the switch): whatever the target, only the backup itself, to its end.
    args+=(--type=immediate --target-action=promote)
    [ "$RESTORE_TARGET" = latest ] || args+=(--set="$(pgbackrest --config="$PGBACKREST_CONFIG" --stanza="$STANZA" \
        --repo="$RESTORE_REPO" info --output=json | python3 -c 'import json, sys, datetime as d
t = d.datetime.fromisoformat(sys.argv[1]).timestamp()
print([b["label"] for b in json.load(sys.stdin)[0]["backup"] if b["timestamp"]["stop"] <= t][-1])' "$RESTORE_TARGET")")
elif [ "$RESTORE_TARGET" = latest ]; then
    args+=(--type=default)
else
    args+=(--type=time "--target=$RESTORE_TARGET" --target-action=promote)
fi
mkdir -p -m 0700 "$PGDATA"  # emptied by the entrypoint: pgBackRest restores into an existing, empty one
echo "restore.sh: pgbackrest restore ${args[*]}" >&2
exec pgbackrest "${args[@]}" restore
