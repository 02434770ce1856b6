#!/usr/bin/env bash
# A private PostgreSQL cluster: its own directory, a free loopback port, run as the
# `postgres` user when called as root (initdb refuses root). Installs Debian's PostgreSQL
# server when none is found, so tests need nothing set up by hand.
#
#   scripts/postgres.sh start DIR [PORT]   creates (if new) and starts; prints the URL
#   scripts/postgres.sh stop DIR           stops it (fast shutdown)
#   scripts/postgres.sh url DIR            prints the URL of a started cluster
#   scripts/postgres.sh createdb DIR NAME  creates database NAME; prints its URL
#
# Only for tests and drills: local connections are trusted, nothing else may connect.
set -euo pipefail

find_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$found" ] || [ ! -x "$found/initdb" ]; then
    echo "installing postgresql (Debian) for the PostgreSQL store's tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
    found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$found"
}

as_owner() { # runs a command as the cluster's owner
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|url DIR [PORT]" >&2; exit 2; }

case "$cmd" in
  start)
    bin=$(find_bin)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # Test processes may start it at once: one creates and starts, the others find it up.
    exec 9>"$dir.lock"
    flock 9
    if [ -f "$dir/port" ] && as_owner "$bin/pg_ctl" --pgdata="$dir/data" status >/dev/null 2>&1; then
      echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
      exit 0
    fi
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    chmod 0700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" --pgdata="$dir/data" --username=postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    port=${3:-$(cat "$dir/port" 2>/dev/null || free_port)}
    echo "$port" | as_owner tee "$dir/port" >/dev/null
    # The server must not inherit the lock (fd 9), or later callers would wait forever.
    as_owner "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --timeout=60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir' -c max_connections=300 -c fsync=on -c synchronous_commit=on" \
      start 9>&- >/dev/null || { tail -n 30 "$dir/server.log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    bin=$(find_bin)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$bin/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >/dev/null || true
    fi
    ;;
  createdb)
    name=${3:?database name}
    bin=$(find_bin)
    "$bin/createdb" --host=127.0.0.1 --port="$(cat "$dir/port")" --username=postgres "$name"
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/$name"
    ;;
  url)
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
    ;;
  *)
    echo "usage: $0 start|stop|url|createdb DIR [PORT|NAME]" >&2; exit 2
    ;;
esac
