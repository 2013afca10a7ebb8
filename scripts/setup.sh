#!/usr/bin/env bash
# Set-up for the DevOps Simulator harness on Debian, as root. Idempotent: where Docker is
# already installed and running (a laptop), it changes nothing there.
#   - installs the Docker engine (docker.io), debootstrap, python3-venv and chromium when missing
#   - starts dockerd when no engine answers, and makes this host a single-node Swarm manager
#   - creates .venv and installs the harness with its test tools
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
# headless Chromium opens the rendered HTML reports in the browser tests; fonts for legible screenshots
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        log "starting docker with systemctl"
        systemctl start docker
    else
        log "starting dockerd (log: /var/log/devsim-dockerd.log)"
        nohup dockerd >>/var/log/devsim-dockerd.log 2>&1 &
    fi
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { log "dockerd did not answer within 60 s; see /var/log/devsim-dockerd.log"; exit 1; }
fi

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
    log "making this host a single-node Swarm manager"
    # Loopback only: the manager API (2377), gossip (7946) and the data path (4789).
    docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 --data-path-addr 127.0.0.1 >/dev/null
fi
# A restarted engine brings the swarm back, but its manager may take a moment.
for _ in $(seq 1 30); do
    [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = "true" ] && break
    sleep 1
done

stamp=.venv/.devsim-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing the harness into .venv"
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip >/dev/null
    .venv/bin/pip install -q -e '.[test]'
    echo "$want" > "$stamp"
fi
log "ready: docker $(docker version --format '{{.Server.Version}}'), swarm manager, .venv"
