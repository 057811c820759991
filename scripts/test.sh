#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run runs exactly this).
# Builds the binaries, then runs unit tests and the e2e suite, which starts the real `kcp`
# binary and drives it with the installed kubectl 1.32 over TLS.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kubectl >/dev/null 2>&1; then
  echo "scripts/test.sh: kubectl (1.32) must be on PATH" >&2
  exit 1
fi
# Reuse a build cache outside the clone when there is one; a fresh machine builds from nothing.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kcp-rs/target}"
mkdir -p "$CARGO_TARGET_DIR"

cargo build --locked --bins
cargo test --locked --workspace -- --test-threads=2
