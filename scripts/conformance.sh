#!/usr/bin/env bash
# API conformance: schemathesis (PyPI) against the published OpenAPI document of a running
# demo gateway, signed in as each role. Reports every failure it finds.
#   scripts/conformance.sh [max examples per operation, default 20]
# scripts/test.sh (CI) runs it with a fixed seed, so a failure there reproduces.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-20}"
seed="${OMADATA_CONFORMANCE_SEED:-1}"
venv="${OMADATA_VENV:-target/conformance-venv}"
if [ ! -x "$venv/bin/schemathesis" ]; then
  if ! python3 -m venv "$venv"; then
    echo "installing python3-venv (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends python3-venv
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet "schemathesis==4.32.5"
fi
cargo build --locked -p omadata
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
data=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$target_dir/debug/omadata" demo --listen "127.0.0.1:$port" --data "$data/data" > "$data/out" 2> "$data/log" &
gateway=$!
# The gateway saves its audit chain heads as it stops: its data is removed only once it has
# exited (SIGKILL if it has not within 10 s).
stop_gateway() {
  kill "$gateway" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$gateway" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$gateway" 2>/dev/null || true
  wait "$gateway" 2>/dev/null || true
  rm -rf "$data"
}
trap stop_gateway EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 50); do curl -sf "$base/readyz" > /dev/null && break; sleep 0.2; done

token() { # test person -> bearer token, through the real login flow
  local jar="$data/jar-$1"
  curl -s -L -c "$jar" -b "$jar" -o /dev/null "$base/auth/login?login_hint=$1"
  local csrf
  csrf=$(curl -s -b "$jar" "$base/api/v1/me" | python3 -c 'import json, sys; print(json.load(sys.stdin)["csrf_token"])')
  curl -s -b "$jar" -X POST -H "x-csrf-token: $csrf" "$base/api/v1/tokens" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

status=0
for person in client2 pro-youth auditor admin; do
  echo "== schemathesis as $person"
  # Erasure and sign-out would end the run's own identity; they have their own tests.
  "$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
    -H "Authorization: Bearer $(token "$person")" \
    --max-examples "$examples" --seed "$seed" \
    --exclude-path /api/v1/me --exclude-method DELETE --exclude-path /auth/logout \
    --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance \
    || status=1
done
grep -c '"level":"ERROR"\|ERROR' "$data/log" || true
exit $status
