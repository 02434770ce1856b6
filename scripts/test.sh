#!/usr/bin/env bash
# Every check OmaData runs: formatting, lints, dependency policy, all tests (Rust, then the
# end-to-end tests again on PostgreSQL, then the web pages in Chromium, then API
# conformance with schemathesis on both stores). Installs what it needs itself, so it works on a bare machine;
# .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

need_cargo_tool() { # binary, crate@version
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "installing $2"
    cargo install --locked "$2"
  fi
}
need_cargo_tool cargo-deny cargo-deny@0.20.2
need_cargo_tool cargo-nextest cargo-nextest

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (Debian) for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends chromium
fi
# The power-cut tests mount a FUSE file system (tests/src/powercut_fs.rs): as root through
# /dev/fuse directly, otherwise through fusermount3 from Debian's fuse3.
if ! command -v fusermount3 >/dev/null 2>&1; then
  echo "installing fuse3 (Debian) for the power-cut tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends fuse3
fi

echo "== npm ci (oidc-provider and the browser-test tools)"
(cd tests/oidc-provider && npm ci --no-audit --no-fund)
(cd tests/browser && npm ci --no-audit --no-fund)

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The production build without the demo crate (test identity provider, demo data).
cargo clippy -p omadata --no-default-features --all-targets --locked -- -D warnings
echo "== cargo deny check bans licenses sources"
cargo deny --log-level error check bans licenses sources
echo "== a private PostgreSQL cluster (scripts/postgres.sh) for the PostgreSQL store"
pg_dir=$(mktemp -d)
scripts/postgres.sh start "$pg_dir" >/dev/null
trap 'scripts/postgres.sh stop "$pg_dir"; rm -rf "$pg_dir" "$pg_dir.lock"' EXIT
export OMADATA_TEST_POSTGRES="$pg_dir"

echo "== tests"
cargo nextest run --workspace --locked --no-fail-fast
echo "== the end-to-end tests again, every gateway on PostgreSQL"
OMADATA_TEST_STORE=postgres cargo nextest run -p omadata-e2e --locked --no-fail-fast
echo "== failover drill: the primary killed and the standby promoted under load, then SIGKILL of the server"
scripts/failover-drill.sh 4

echo "== web pages in Chromium (playwright-core, axe-core)"
cargo build --locked -p omadata
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
(cd tests/browser && OMADATA_BIN="$target_dir/debug/omadata" npm test)

echo "== API conformance: schemathesis (PyPI) as each role against the published OpenAPI document"
scripts/conformance.sh 10
echo "== API conformance again, the gateway on PostgreSQL"
OMADATA_STORE=$(scripts/postgres.sh createdb "$pg_dir" conformance) scripts/conformance.sh 10
