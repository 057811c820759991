#!/usr/bin/env bash
# Brings up a sharded kcp-rs install on this machine: a PKI, two cache server replicas, the root
# shard, a second shard and the front-proxy, each a real process talking mutual TLS over loopback. Everything it
# makes (PKI, state, logs, pids) lives under DIR; DIR/admin.kubeconfig points at the proxy.
#
#   deploy/local/up.sh DIR      then   KUBECONFIG=DIR/admin.kubeconfig kubectl ...
#   deploy/local/up.sh --etcd DIR   the same, with both shards on a three-member etcd cluster
#   deploy/local/down.sh DIR    stops exactly these processes
#
# Ports: PROXY_PORT (default 6443), ROOT_PORT (6444), SHARD2_PORT (6445), CACHE1_PORT (6446),
# CACHE2_PORT (6447); with --etcd, ETCD_CLIENT_PORTS (6450,6451,6452) and ETCD_PEER_PORTS
# (6460,6461,6462), and etcd 3.4+ on PATH or at /usr/bin/etcd (Debian: etcd-server). TOKEN_AUTH_FILE and
# FRONT_PROXY_EXTRA_ARGS (e.g. OIDC flags) configure the proxy's authentication.
# Binaries: KCP_BIN_DIR, else built with cargo into $CARGO_TARGET_DIR/debug. Needs kubectl.
set -euo pipefail

use_etcd=0
if [ "${1:-}" = "--etcd" ]; then
  use_etcd=1
  shift
fi
if [ $# -ne 1 ]; then
  echo "usage: $0 [--etcd] DIR" >&2
  exit 2
fi
repo="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$1"
dir="$(cd "$1" && pwd)"
proxy_port="${PROXY_PORT:-6443}"
root_port="${ROOT_PORT:-6444}"
shard2_port="${SHARD2_PORT:-6445}"
cache1_port="${CACHE1_PORT:-6446}"
cache2_port="${CACHE2_PORT:-6447}"

if [ -z "${KCP_BIN_DIR:-}" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kcp-rs/target}"
  (cd "$repo" && cargo build --locked --bins)
  KCP_BIN_DIR="$CARGO_TARGET_DIR/debug"
fi
bin="$KCP_BIN_DIR"
pki="$dir/pki"
mkdir -p "$dir/logs" "$dir/run"

if [ ! -f "$pki/server-ca.crt" ]; then
  "$bin/kcp" pki init --dir "$pki" --shard root --shard shard-2 --host localhost --host 127.0.0.1 >"$dir/logs/pki.log"
fi

b64() { base64 -w0 <"$1"; }

# A kubeconfig for a client-certificate identity: kubeconfig SERVER CERT_STEM.
kubeconfig() {
  cat <<KC
apiVersion: v1
kind: Config
current-context: default
clusters:
- name: default
  cluster:
    server: $1
    certificate-authority-data: $(b64 "$pki/server-ca.crt")
users:
- name: default
  user:
    client-certificate-data: $(b64 "$pki/$2.crt")
    client-key-data: $(b64 "$pki/$2.key")
contexts:
- name: default
  context:
    cluster: default
    user: default
KC
}

# Shards reach the root shard, each other and the cache replicas as system:masters.
kubeconfig "https://127.0.0.1:$root_port" shard-client >"$dir/root-shard.kubeconfig"
chmod 600 "$dir/root-shard.kubeconfig"

# running NAME: whether the component started last is still alive.
running() {
  [ -f "$dir/run/$1.pid" ] && kill -0 "$(cat "$dir/run/$1.pid")" 2>/dev/null
}

# start NAME COMMAND...: runs a process in the background, remembering its pid.
start() {
  local name="$1"
  shift
  if running "$name"; then
    echo "$name is already running (pid $(cat "$dir/run/$name.pid"))"
    return
  fi
  "$@" >>"$dir/logs/$name.log" 2>&1 &
  echo $! >"$dir/run/$name.pid"
}

# wait_ready NAME URL: waits until a component answers /readyz.
wait_ready() {
  for _ in $(seq 1 100); do
    if kubectl --kubeconfig /dev/null --server "$2" --certificate-authority "$pki/server-ca.crt" --token probe get --raw /readyz </dev/null >/dev/null 2>&1; then
      return 0
    fi
    if ! running "$1"; then
      echo "$1 exited; see $dir/logs/$1.log" >&2
      tail -n 20 "$dir/logs/$1.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "$1 did not become ready; see $dir/logs/$1.log" >&2
  exit 1
}

# Cache replicas: independent, in memory, refilled by the shards whenever they (re)start.
cache() {
  local name="$1" port="$2"
  start "$name" "$bin/kcp-cache-server" \
    --bind-address 127.0.0.1 --secure-port "$port" \
    --tls-cert-file "$pki/cache-server.crt" --tls-private-key-file "$pki/cache-server.key" \
    --client-ca-file "$pki/client-ca.crt"
  wait_ready "$name" "https://127.0.0.1:$port"
}

cache cache-1 "$cache1_port"
cache cache-2 "$cache2_port"

# With --etcd: three members on loopback, clients over TLS with etcd-ca certificates only.
storage_args=()
if [ "$use_etcd" = 1 ]; then
  etcd_bin="$(command -v etcd || true)"
  [ -n "$etcd_bin" ] || etcd_bin=/usr/bin/etcd
  if [ ! -x "$etcd_bin" ]; then
    echo "--etcd needs etcd 3.4+ on PATH (Debian: apt-get install etcd-server)" >&2
    exit 1
  fi
  IFS=, read -r -a etcd_clients <<<"${ETCD_CLIENT_PORTS:-6450,6451,6452}"
  IFS=, read -r -a etcd_peers <<<"${ETCD_PEER_PORTS:-6460,6461,6462}"
  initial_cluster="etcd-0=http://127.0.0.1:${etcd_peers[0]},etcd-1=http://127.0.0.1:${etcd_peers[1]},etcd-2=http://127.0.0.1:${etcd_peers[2]}"
  etcd_servers=""
  for i in 0 1 2; do
    client="https://127.0.0.1:${etcd_clients[$i]}"
    peer="http://127.0.0.1:${etcd_peers[$i]}"
    etcd_servers="${etcd_servers:+$etcd_servers,}$client"
    # Logs are appended across restarts: only what this start writes says it is ready.
    log_from[$i]=1
    running "etcd-$i" || log_from[$i]=$(($(stat -c %s "$dir/logs/etcd-$i.log" 2>/dev/null || echo 0) + 1))
    start "etcd-$i" "$etcd_bin" --name "etcd-$i" --data-dir "$dir/etcd-$i" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "$initial_cluster" \
      --cert-file "$pki/etcd-server.crt" --key-file "$pki/etcd-server.key" \
      --trusted-ca-file "$pki/etcd-ca.crt" --client-cert-auth
  done
  # A member serves once the cluster has a leader, which needs a majority of them running.
  for i in 0 1 2; do
    for _ in $(seq 1 200); do
      tail -c "+${log_from[$i]}" "$dir/logs/etcd-$i.log" 2>/dev/null | grep -q "ready to serve client requests" && break
      if ! running "etcd-$i"; then
        echo "etcd-$i exited; see $dir/logs/etcd-$i.log" >&2
        tail -n 20 "$dir/logs/etcd-$i.log" >&2
        exit 1
      fi
      sleep 0.1
    done
  done
  storage_args=(--storage etcd --etcd-servers "$etcd_servers" --etcd-cafile "$pki/etcd-ca.crt"
    --etcd-certfile "$pki/etcd-client.crt" --etcd-keyfile "$pki/etcd-client.key")
fi

shard() {
  local name="$1" port="$2"
  start "$name" "$bin/kcp-shard" \
    --root-directory "$dir/$name" \
    --bind-address 127.0.0.1 --secure-port "$port" \
    --shard-name "$name" --shard-base-url "https://127.0.0.1:$port" \
    --shard-external-url "https://127.0.0.1:$proxy_port" \
    --tls-cert-file "$pki/shard-$name.crt" --tls-private-key-file "$pki/shard-$name.key" \
    --client-ca-file "$pki/client-ca.crt" \
    --requestheader-client-ca-file "$pki/requestheader-ca.crt" --requestheader-allowed-names kcp-front-proxy \
    --root-ca-file "$pki/server-ca.crt" \
    --service-account-signing-key-file "$pki/service-account.key" \
    --root-shard-kubeconfig-file "$dir/root-shard.kubeconfig" \
    --cache-server-url "https://127.0.0.1:$cache1_port,https://127.0.0.1:$cache2_port" \
    --cache-kubeconfig "$dir/root-shard.kubeconfig" \
    ${storage_args[@]+"${storage_args[@]}"}
  wait_ready "$name" "https://127.0.0.1:$port"
}

shard root "$root_port"
shard shard-2 "$shard2_port"

start front-proxy "$bin/kcp-front-proxy" \
  --bind-address 127.0.0.1 --secure-port "$proxy_port" \
  --tls-cert-file "$pki/front-proxy.crt" --tls-private-key-file "$pki/front-proxy.key" \
  --client-ca-file "$pki/client-ca.crt" \
  ${TOKEN_AUTH_FILE:+--token-auth-file "$TOKEN_AUTH_FILE"} \
  --service-account-key-file "$pki/service-account.pub" \
  --root-kubeconfig "$dir/root-shard.kubeconfig" \
  --proxy-client-cert-file "$pki/front-proxy-client.crt" --proxy-client-key-file "$pki/front-proxy-client.key" \
  ${FRONT_PROXY_EXTRA_ARGS:-}
wait_ready front-proxy "https://127.0.0.1:$proxy_port"

# The admin kubeconfig: kcp-admin through the proxy, at root.
kubeconfig "https://127.0.0.1:$proxy_port/clusters/root" admin >"$dir/admin.kubeconfig"
chmod 600 "$dir/admin.kubeconfig"

# The proxy routes once its index knows the root workspace.
for _ in $(seq 1 100); do
  if KUBECONFIG="$dir/admin.kubeconfig" kubectl get --raw /clusters/root/version >/dev/null 2>&1; then
    echo "kcp-rs is up: export KUBECONFIG=$dir/admin.kubeconfig"
    exit 0
  fi
  sleep 0.1
done
echo "the front-proxy does not route to root yet; see $dir/logs" >&2
exit 1
