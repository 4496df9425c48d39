#!/usr/bin/env bash
# Requests/s per endpoint on the embedded SQLite store: `hey -z ${SECONDS_EACH}s -c 8` against
# `serve --demo` of each build named in BINS (space-separated; default: this release build), so a
# before/after of one endpoint is measured in one run of the machine. The figures of issue 16's
# per-endpoint table in docs/benchmarks.md come from here.
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v hey >/dev/null || { echo "needs hey (apt-get install hey)" >&2; exit 1; }
SECONDS_EACH="${SECONDS_EACH:-4}"
if [ -z "${BINS:-}" ]; then
  cargo build -q --release -p api --bin bufdir-reporting
  BINS=target/release/bufdir-reporting
fi
METRIC=$(awk -F'"' '/^\[\[metrics\]\]/{getline; print $2; exit}' domain/schema/bufdir_2025_v2.toml)

pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT

rate() { hey -z "${SECONDS_EACH}s" -c 8 "$@" | awk '/Requests\/sec/ {printf "%d", $2}'; }

port=8093
for bin in $BINS; do
  data=$(mktemp -d)
  BUFDIR_DATA_DIR="$data" "$bin" serve --bind "127.0.0.1:$port" --demo >"$data/serve.log" 2>&1 &
  pid=$!
  base="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done
  token=$(BUFDIR_DATA_DIR="$data" "$bin" token --role admin --ttl 3600)
  auth="Authorization: Bearer $token"
  echo "== $bin"
  for path in \
    "/api/v1/organizations/org-demo" \
    "/api/v1/bufdir-exports?limit=20" \
    "/api/v1/report-history?org_id=org-demo" \
    "/api/v1/aggregated-report-data?organization_id=org-demo" \
    "/api/v1/organizations" \
    "/api/v1/report-reexports?limit=20" \
    "/api/v1/source-records?organization_id=org-demo&limit=20"; do
    printf '%-60s %8s/s\n' "GET $path" "$(rate -H "$auth" "$base$path")"
  done
  # hey sends one body again and again: the same two records are corrected in place.
  body=$(printf '{"organization_id":"org-demo","data_source":"hey","records":[%s,%s]}' \
    "{\"record_id\":\"hey-1\",\"occurred_on\":\"2025-03-15\",\"metric\":\"$METRIC\",\"value\":1}" \
    "{\"record_id\":\"hey-2\",\"occurred_on\":\"2025-04-15\",\"metric\":\"$METRIC\",\"value\":2}")
  printf '%-60s %8s/s\n' "POST /api/v1/source-records (2 records)" \
    "$(rate -m POST -T application/json -d "$body" -H "$auth" "$base/api/v1/source-records")"
  body='{"org_id":"org-demo","format":"csv","period_from":"2025-01-01","period_to":"2025-12-31"}'
  printf '%-60s %8s/s\n' "POST /api/v1/bufdir-exports" \
    "$(rate -m POST -T application/json -d "$body" -H "$auth" "$base/api/v1/bufdir-exports")"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  rm -rf "$data"
done
