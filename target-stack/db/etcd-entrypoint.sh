#!/bin/bash
# etcd, Patroni's configuration store, with authentication on: a root user, and a patroni
# user whose role may read and write Patroni's keys (/service/), read the harness's restore
# orders (/devsim/restore/, which root writes) and nothing else. The passwords are the Docker
# secrets. Enabled at the first start; when the root password no
# longer opens an etcd (its secret was made anew), the store starts empty: Patroni writes
# the cluster's state back from the running nodes. No password is ever an argument (any
# user of the host can read a process's arguments in /proc): etcdctl takes the new ones on
# stdin and root's in ETCDCTL_USER, in its own environment.
set -euo pipefail
command -v etcdctl >/dev/null || { echo "etcdctl is missing from the image" >&2; exit 1; }
data=/var/lib/etcd/data
root_pw="$(cat /run/secrets/etcd_root_password)"
patroni_pw="$(cat /run/secrets/etcd_patroni_password)"
export ETCDCTL_API=3 ETCDCTL_ENDPOINTS=http://127.0.0.1:2379

start() {
    etcd --name=etcd --data-dir="$data" \
        --listen-client-urls=http://0.0.0.0:2379 --advertise-client-urls=http://etcd:2379 \
        --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
        --initial-cluster=etcd=http://127.0.0.1:2380 --log-level=warn &
    pid=$!
    for _ in $(seq 150); do
        curl -fsS -o /dev/null http://127.0.0.1:2379/health && return 0
        sleep 0.2
    done
    echo "etcd did not answer within 30 s" >&2
    exit 1
}
as_root() { ETCDCTL_USER="root:${root_pw}" etcdctl "$@"; }
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
start
if etcdctl user list >/dev/null 2>&1; then  # answers without a user only while auth is off
    etcdctl user add root --interactive=false <<<"$root_pw" >/dev/null
    etcdctl user grant-role root root >/dev/null
    etcdctl role add patroni >/dev/null
    etcdctl role grant-permission patroni --prefix=true readwrite /service/ >/dev/null
    etcdctl role grant-permission patroni --prefix=true read /devsim/restore/ >/dev/null
    etcdctl user add patroni --interactive=false <<<"$patroni_pw" >/dev/null
    etcdctl user grant-role patroni patroni >/dev/null
    etcdctl auth enable >/dev/null
    echo "etcd: authentication enabled" >&2
elif ! as_root user list >/dev/null 2>&1 && [ -z "${DEVSIM_ETCD_AFRESH:-}" ]; then
    echo "etcd: its root password is not the stack's secret (made anew?): starting the store empty" >&2
    kill -TERM "$pid"; wait "$pid" || true
    rm -rf "$data"
    DEVSIM_ETCD_AFRESH=1 exec bash "$0"
else  # the patroni user's password follows its secret
    as_root user passwd patroni --interactive=false <<<"$patroni_pw" >/dev/null
    # read, never write, the harness's restore orders (granted here too for an etcd set up
    # before there were any)
    as_root role grant-permission patroni --prefix=true read /devsim/restore/ >/dev/null
fi
wait "$pid"
