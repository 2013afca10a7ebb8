#!/bin/bash
# HAProxy with the edge's certificate: HAProxy wants the certificate and its key in one file,
# so the key (a Docker secret) and the certificate (a config) meet in a file only the
# haproxy user reads. Without them it does not start: nothing falls back to plain HTTP.
set -euo pipefail
cert=/run/configs/tls_edge_cert.pem
key=/run/secrets/tls_edge_key
if [ ! -s "$cert" ] || [ ! -s "$key" ]; then
    echo "the edge's TLS certificate or key is missing ($cert, $key): run \`devsim up\`" >&2
    exit 1
fi
mkdir -p -m 0700 /tmp/tls
(umask 077; cat "$cert" "$key" > /tmp/tls/edge.pem)
exec haproxy -W -db -f /etc/haproxy/haproxy.cfg
