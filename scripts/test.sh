#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run runs exactly this).
# Builds the binaries, then runs unit tests and the e2e suite, which starts the real `kcp`
# binary and drives it with the installed kubectl 1.32 over TLS, and with the official Python
# client (`kubernetes` from PyPI, installed into a virtualenv next to the build cache).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kubectl >/dev/null 2>&1; then
  echo "scripts/test.sh: kubectl (1.32) must be on PATH" >&2
  exit 1
fi
# The HTTP/2 edge tests (e2e/tests/connections.rs) check what curl (nghttp2) sees.
if ! command -v curl >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "scripts/test.sh: installing curl from Debian's packages" >&2
  (apt-get update -qq && apt-get install -y -qq curl) >/dev/null || true
fi
if ! command -v curl >/dev/null 2>&1; then
  echo "scripts/test.sh: curl (with HTTP/2) must be on PATH" >&2
  exit 1
fi
# The etcd storage backend's tests (apiserver/src/storage/etcd/) and e2e tests start a real etcd
# (3.4+); Debian ships it as etcd-server, at /usr/bin/etcd.
if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ] && command -v apt-get >/dev/null 2>&1; then
  echo "scripts/test.sh: installing etcd from Debian's packages (etcd-server)" >&2
  (apt-get update -qq && apt-get install -y -qq etcd-server) >/dev/null || true
fi
if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
  echo "scripts/test.sh: etcd must be on PATH (Debian package etcd-server)" >&2
  exit 1
fi
# The monitoring e2e test (e2e/tests/prometheus.rs) runs the real Prometheus and promtool against
# deploy/prometheus/ and deploy/grafana/; Debian ships both in the prometheus package.
if ! command -v prometheus >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "scripts/test.sh: installing Prometheus from Debian's packages (prometheus)" >&2
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus) >/dev/null || true
fi
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "scripts/test.sh: prometheus and promtool must be on PATH (Debian package prometheus)" >&2
  exit 1
fi
# Reuse a build cache outside the clone when there is one; a fresh machine builds from nothing.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kcp-rs/target}"
mkdir -p "$CARGO_TARGET_DIR"

# The Python client the e2e suite drives (e2e/tests/python_client.rs), in a virtualenv outside
# the clone. It is built under a temporary name and renamed into place, so an interrupted or
# concurrent run never leaves a half-installed one behind that later runs would trust.
PY_CLIENT_VERSION=33.1.0
py_venv="$(dirname "$CARGO_TARGET_DIR")/py-kubernetes-$PY_CLIENT_VERSION"
py_ready() { "$1/bin/python" -c "import kubernetes, sys; sys.exit(kubernetes.__version__ != '$PY_CLIENT_VERSION')" 2>/dev/null; }
if ! py_ready "$py_venv"; then
  tmp_venv="$py_venv.tmp.$$"
  rm -rf "$tmp_venv"
  python3 -m venv "$tmp_venv"
  "$tmp_venv/bin/python" -m pip install --quiet --disable-pip-version-check "kubernetes==$PY_CLIENT_VERSION"
  rm -rf "$py_venv"
  mv -T "$tmp_venv" "$py_venv" 2>/dev/null || rm -rf "$tmp_venv"
  py_ready "$py_venv"
fi
export KCP_E2E_PYTHON="$py_venv/bin/python"

# Formatting and lints first: cheap, and a failure there says more than a failing test.
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo build --locked --bins
cargo test --locked --workspace -- --test-threads=2
