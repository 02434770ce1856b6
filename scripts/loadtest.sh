#!/usr/bin/env bash
# OmaData close to its limit: seeds a store (default 10^6 clients), starts the gateway,
# drives it and a bare hello-world with wrk on loopback, and prints a table.
#   scripts/loadtest.sh [--clients N] [--with-records R] [--professionals P] [--seconds S]
#                       [--connections C] [--rate N] [--store postgres://…|--store local]
#                       [--gateways G]
# Every argument goes to omadata-loadtest (`--help` lists them). `--store URL` also measures
# the gateway on PostgreSQL (an empty database), beside sled; `--store local` starts a
# private cluster for it (scripts/postgres.sh) and stops it at the end. `--gateways G`
# (with `--store`) then measures G gateways serving that database at once, in a third
# column (the connections and the rate shared out among them).
# Also run the Criterion benchmarks listed in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (Debian) for the load generator"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends wrk
fi
cargo build --release --locked -p omadata -p omadata-loadtest
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
if [ "$#" -eq 0 ]; then
  set -- --clients 1000000 --with-records 20000 --professionals 1000
fi
args=()
cluster=
while [ "$#" -gt 0 ]; do
  if [ "$1" = --store ] && [ "${2:-}" = local ]; then
    cluster=$(mktemp -u "${TMPDIR:-/tmp}/omadata-loadtest-pg.XXXXXX")
    trap 'scripts/postgres.sh stop "$cluster"; rm -rf "$cluster" "$cluster.lock"' EXIT
    scripts/postgres.sh start "$cluster" >/dev/null
    args+=(--store "$(scripts/postgres.sh createdb "$cluster" omadata_load)")
    shift 2
  else
    args+=("$1")
    shift
  fi
done
"$target_dir/release/omadata-loadtest" --omadata "$target_dir/release/omadata" "${args[@]}"
