#!/usr/bin/env bash
# The failover drill: a PostgreSQL primary with a synchronous standby (initdb,
# pg_basebackup -R), two demo gateways that find the primary through a multi-host connection
# string with target_session_attrs=read-write, a mixed load; then the primary is killed
# (pg_ctl -m immediate) and the standby promoted while the load runs. It checks that the
# gateways carry on (errors during the switch are 503 problems, never 500), that every
# acknowledged write and revocation is there, and that the audit log verifies. Then the
# new primary is killed with SIGKILL under load and restarted, and the same checks run.
#   scripts/failover-drill.sh [seconds of load before the kill, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:-5}
cargo build --locked -p omadata
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
omadata="$target_dir/debug/omadata"
work=$(mktemp -d)
chmod 0755 "$work"
primary="$work/primary" standby="$work/standby"
gateway="" gateway2=""
cleanup() {
  [ -n "$gateway" ] && kill "$gateway" 2>/dev/null && wait "$gateway" 2>/dev/null || true
  [ -n "$gateway2" ] && kill "$gateway2" 2>/dev/null && wait "$gateway2" 2>/dev/null || true
  scripts/postgres.sh stop "$primary" || true
  scripts/postgres.sh stop "$standby" || true
  rm -rf "$work" "$primary.lock" "$standby.lock"
}
trap cleanup EXIT
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "== primary and synchronous standby"
primary_url=$(scripts/postgres.sh start "$primary")
primary_port=$(cat "$primary/port")
standby_port=$(free_port)
mkdir -p "$standby"
[ "$(id -u)" = 0 ] && chown postgres: "$standby"
chmod 0700 "$standby"
as_owner "$bin/pg_basebackup" --host=127.0.0.1 --port="$primary_port" --username=postgres \
  --pgdata="$standby/data" --write-recovery-conf --checkpoint=fast --wal-method=stream
scripts/postgres.sh start "$standby" "$standby_port" >/dev/null
# Every commit waits for the standby to have it on disk (set after the copy, so the
# promoted standby does not wait for a standby of its own).
"$bin/psql" "$primary_url" -qc "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" >/dev/null
"$bin/createdb" --host=127.0.0.1 --port="$primary_port" --username=postgres omadata
for _ in $(seq 50); do
  state=$("$bin/psql" "$primary_url" -tAc "SELECT sync_state FROM pg_stat_replication" || true)
  [ "$state" = sync ] && break
  sleep 0.2
done
echo "standby: $state"
[ "$state" = sync ] || { echo "the standby is not synchronous"; exit 1; }

echo "== two gateways on the multi-host connection string"
store="postgres://postgres@127.0.0.1:$primary_port,127.0.0.1:$standby_port/omadata?target_session_attrs=read-write"
port=$(free_port)
"$omadata" demo --listen "127.0.0.1:$port" --data "$work/data" --store "$store" >"$work/gateway.out" 2>"$work/gateway.log" &
gateway=$!
first="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$first/readyz" >/dev/null && break; sleep 0.2; done
# The second shares the key files, the database and the public URL (the tokens name it),
# and serves beside the first.
port2=$(free_port)
OMADATA_PUBLIC_URL="$first/" "$omadata" demo --listen "127.0.0.1:$port2" --data "$work/data" --store "$store" >"$work/gateway2.out" 2>"$work/gateway2.log" &
gateway2=$!
second="http://127.0.0.1:$port2"
for _ in $(seq 100); do curl -sf "$second/readyz" >/dev/null && break; sleep 0.2; done
# Calls go round both: a write through one is read, and revoked, through the other.
base="$first,$second"

echo "== load for $before s, kill the primary, promote the standby, load on"
python3 scripts/failover-load.py load "$base" "$((before * 3))" "$work/state.json" &
load=$!
sleep "$before"
killed=$(date +%s.%N)
as_owner "$bin/pg_ctl" --pgdata="$primary/data" --mode=immediate stop >/dev/null
sleep 1
as_owner "$bin/pg_ctl" --pgdata="$standby/data" promote --wait >/dev/null
promoted=$(date +%s.%N)
echo "primary killed; standby promoted $(python3 -c "print(round($promoted - $killed, 2))") s later"
status=0
wait "$load" || status=1

echo "== checks after the switch"
python3 scripts/failover-load.py check "$base" "$work/state.json" || status=1

echo "== SIGKILL of the PostgreSQL server (now the promoted standby) under load, then its restart"
python3 scripts/failover-load.py load "$base" "$((before * 3))" "$work/state2.json" "$work/state.json" &
load=$!
sleep "$before"
postmaster=$(head -n 1 "$standby/data/postmaster.pid")
processes="$postmaster $(pgrep -P "$postmaster" | tr '\n' ' ')"
# shellcheck disable=SC2086 # one word per process
kill -9 $processes
for pid in $processes; do
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
done
scripts/postgres.sh start "$standby" "$standby_port" >/dev/null
echo "server killed and restarted (crash recovery)"
wait "$load" || status=1
python3 scripts/failover-load.py check "$base" "$work/state2.json" || status=1
kill "$gateway" "$gateway2"; wait "$gateway" "$gateway2" 2>/dev/null || true
gateway="" gateway2=""
"$omadata" keys jwks --signing-key "$work/data/signing.key" >"$work/jwks.json"
if "$omadata" audit verify --store "postgres://postgres@127.0.0.1:$standby_port/omadata" --jwks "$work/jwks.json"; then
  :
else
  status=1
fi
[ "$status" = 0 ] && echo "failover drill passed" || {
  echo "failover drill FAILED"
  tail -n 20 "$work/gateway.log" "$work/gateway2.log" "$standby/server.log"
}
exit "$status"
