#!/usr/bin/env bash
# Prints the Secrets of deploy/kubernetes made from a `kcp pki init` directory, each holding only
# the files its component reads:
#
#   kcp pki init --dir pki --shard root --shard kcp-shard-0 --shard kcp-shard-1 --host ...   (see README.md)
#   deploy/kubernetes/secrets.sh pki | kubectl apply -f -
#
# CA keys (*-ca.key) never leave the PKI directory.
set -euo pipefail
if [ $# -ne 1 ] || [ ! -f "$1/server-ca.crt" ]; then
  echo "usage: $0 PKI_DIR   (a directory written by kcp pki init)" >&2
  exit 2
fi
pki="$1"

# secret NAME FILE...: one Secret with these files of the PKI directory.
secret() {
  local name="$1"
  shift
  local args=()
  for f in "$@"; do
    args+=("--from-file=$f=$pki/$f")
  done
  echo "---"
  kubectl create secret generic "$name" --namespace kcp --dry-run=client -o yaml "${args[@]}"
}

# Every shard's serving pair: shard-<name>.crt, apart from the admin and client identities.
shards=()
for crt in "$pki"/shard-*.crt; do
  stem="$(basename "$crt" .crt)"
  case "$stem" in
  shard-admin | shard-client) ;;
  *) shards+=("$stem.crt" "$stem.key") ;;
  esac
done

secret kcp-shard-pki server-ca.crt client-ca.crt requestheader-ca.crt service-account.key \
  shard-client.crt shard-client.key "${shards[@]}"
secret kcp-cache-pki client-ca.crt cache-server.crt cache-server.key
secret kcp-front-proxy-pki server-ca.crt client-ca.crt service-account.pub front-proxy.crt front-proxy.key \
  front-proxy-client.crt front-proxy-client.key shard-client.crt shard-client.key
