#!/usr/bin/env bash
# Every check OmaData runs: formatting, lints, dependency policy, all tests.
# Installs what it needs itself, so it works on a bare machine; .ci/run calls it.
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

echo "== npm ci (oidc-provider for the end-to-end tests)"
(cd tests/oidc-provider && npm ci --no-audit --no-fund)

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo deny check bans licenses sources"
cargo deny --log-level error check bans licenses sources
echo "== tests"
cargo nextest run --workspace --locked --no-fail-fast
