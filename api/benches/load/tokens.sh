#!/usr/bin/env bash
# What a token of an identity provider costs (issue 21), against the release build on the
# embedded SQLite store, with `local-issuer` as the provider. Needs wrk. Reads an organisation's
# detail with:
#   1. one token per client, the same for every request (the verified-token cache answers):
#      a local HS256 token and a provider ES256 token, alternating ROUNDS times;
#   2. a new token on every request (cycle_tokens.lua, one wrk thread, runs shorter than the
#      tokens last): local HS256, provider ES256, and provider ES256 naming a person (their
#      name and e-mail sealed under a new subject key: one key-store write per new token).
# The machine is shared: compare the ratios of one run.
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
ROUNDS="${ROUNDS:-2}"
SECONDS_CACHED="${SECONDS_CACHED:-8}"
cargo build -q --release -p api --bins
BIN=target/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$BIN/local-issuer" --listen 127.0.0.1:9401 >"$work/issuer.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:9401/jwks >/dev/null && break; sleep 0.1; done
OIDC_ISSUER=http://127.0.0.1:9401 OIDC_AUDIENCE=bufdir-reporting RUST_LOG=warn \
  "$BIN/bufdir-reporting" serve --bind 127.0.0.1:8091 --data-dir "$work/data" >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do curl -sf http://127.0.0.1:8091/readyz >/dev/null && break; sleep 0.2; done

URL=http://127.0.0.1:8091/api/v1/organizations/org-demo
local_token=$("$BIN/bufdir-reporting" token --role admin --data-dir "$work/data")
oidc_token=$(curl -sf 'http://127.0.0.1:9401/token?sub=bench&role=admin')
summary() { awk '/requests in/{n=$1} /Requests\/sec/{r=$2} /^ +99%/{p=$2} /Non-2xx/{b=$5}
  END{printf "%8s requests %10s/s p99 %8s non-2xx %s\n", n, r, p, (b==""?0:b)}'; }

echo "== the same token on every request (32 connections, ${SECONDS_CACHED} s)"
for round in $(seq 1 "$ROUNDS"); do
  for kind in local oidc; do
    token=$local_token; [ "$kind" = oidc ] && token=$oidc_token
    printf "round %s %-6s" "$round" "$kind"
    wrk -t2 -c32 -d"${SECONDS_CACHED}s" --latency -H "Authorization: Bearer $token" "$URL" | summary
  done
done

echo "== a new token on every request (1 thread, 32 connections)"
python3 api/benches/load/make_tokens.py local 100000 "$work/local.txt" "$work/data/jwt-secret"
python3 api/benches/load/make_tokens.py oidc 30000 "$work/oidc.txt" 127.0.0.1:9401
python3 api/benches/load/make_tokens.py oidc-person 20000 "$work/person.txt" 127.0.0.1:9401
for kind in local:1 oidc:2 person:2; do
  name=${kind%%:*} seconds=${kind##*:}
  printf "%-14s" "$name"
  wrk -t1 -c32 -d"${seconds}s" --latency -s api/benches/load/cycle_tokens.lua \
    http://127.0.0.1:8091 -- "$work/$name.txt" | summary
done
echo "(each figure is valid when its request count is below its token count: 100000, 30000, 20000)"
