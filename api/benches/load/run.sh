#!/usr/bin/env bash
# Load benchmark of issue 7 (figures go into docs/benchmarks.md). Needs wrk and hey
# (`apt-get install wrk hey`). Against a release build, on the embedded SQLite store and on
# PostgreSQL (POSTGRES_URL, default the machine's `test` server; a fresh database per run):
#   1. 30 s of reads only (an organisation's detail, behind auth and a read-model query), the
#      service's maximum read rate;
#   2. 30 s of the same read at half that rate (hey -q), for p99 at half of the maximum load;
#   3. 60 s of mixed load (mixed.lua: lists and details, source-record imports, export creation):
#      requests/s, p50/p99, non-2xx count, and the projection lag right after (/readyz); beside
#      it, an interactive reader (hey, 2 connections, 100 detail reads/s) whose p99 is the
#      latency a person sees while imports and exports run;
# and the ceiling: 30 s against a bare poem handler (api/examples/bare_poem.rs).
# The machine is shared: compare the ratios of one run, not figures across runs.
set -euo pipefail
cd "$(dirname "$0")/../../.."
for tool in wrk hey curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install wrk hey)" >&2; exit 1; }
done
CONNECTIONS="${CONNECTIONS:-32}"
MIXED_SECONDS="${MIXED_SECONDS:-60}"
READ_SECONDS="${READ_SECONDS:-30}"
POSTGRES_URL="${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
OUT="${OUT:-target/load}"
mkdir -p "$OUT"
# BIN=path runs another build of the service (say, the previous release) against the same
# ceiling, for a before/after within one run of the machine.
cargo build -q --release -p api --example bare_poem
if [ -z "${BIN:-}" ]; then
  cargo build -q --release -p api --bin bufdir-reporting
  BIN=target/release/bufdir-reporting
fi
METRIC=$(awk -F'"' '/^\[\[metrics\]\]/{getline; print $2; exit}' domain/schema/bufdir_2025_v2.toml)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_ready() {
  for _ in $(seq 1 300); do
    curl -sf "$1/readyz" >/dev/null && return 0
    sleep 0.2
  done
  echo "the server at $1 did not become ready" >&2; return 1
}

# Prints "rps p50 p99 non2xx" from a wrk --latency report.
wrk_summary() {
  awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2}
    /^ +99%/ {p99=$2}
    /Non-2xx or 3xx responses/ {bad=$5}
    /Socket errors/ {sock=$0}
    END {printf "%s %s %s %s\n", rps, p50, p99, (bad==""?0:bad) (sock==""?"":" ("sock")")}' "$1"
}

bench_backend() {
  local name=$1 port=$2 db_url=$3
  local data; data=$(mktemp -d)
  local env=(BUFDIR_DATA_DIR="$data" LOG_FORMAT=json)
  [ -n "$db_url" ] && env+=(DATABASE_URL="$db_url")
  env "${env[@]}" "$BIN" serve --bind "127.0.0.1:$port" --demo >"$OUT/$name-serve.log" 2>&1 &
  pids+=($!)
  local base="http://127.0.0.1:$port"
  wait_ready "$base"
  local token; token=$(env "${env[@]}" "$BIN" token --role admin --ttl 3600)
  local read="$base/api/v1/organizations/org-demo"
  wrk -t2 -c"$CONNECTIONS" -d"${READ_SECONDS}s" --latency -H "Authorization: Bearer $token" "$read" \
    >"$OUT/$name-reads.txt"
  local max; max=$(wrk_summary "$OUT/$name-reads.txt" | cut -d' ' -f1)
  echo "reads: rps p50 p99 non-2xx = $(wrk_summary "$OUT/$name-reads.txt")"
  # hey's -q is per connection: half the maximum, spread over 8 connections.
  local per=$(awk -v m="$max" 'BEGIN {printf "%d", m / 2 / 8}')
  hey -z "${READ_SECONDS}s" -c 8 -q "$per" -H "Authorization: Bearer $token" "$read" >"$OUT/$name-half.txt"
  echo "reads at half of the maximum ($((per * 8))/s): $(grep -E 'Requests/sec|99%|50%' "$OUT/$name-half.txt" | tr -s ' ' | tr '\n' ';')"
  # Mixed last: the export jobs it queues keep the workers busy long after it ends.
  echo "== $name: mixed load, $MIXED_SECONDS s, $CONNECTIONS connections"
  hey -z "${MIXED_SECONDS}s" -c 2 -q 50 -H "Authorization: Bearer $token" "$read" \
    >"$OUT/$name-mixed-reader.txt" &
  local reader=$!
  TOKEN="$token" METRIC="$METRIC" RUN="$name-$$" \
    wrk -t2 -c"$CONNECTIONS" -d"${MIXED_SECONDS}s" --latency -s api/benches/load/mixed.lua "$base" \
    >"$OUT/$name-mixed.txt"
  wait "$reader"
  curl -s "$base/readyz" >"$OUT/$name-readyz.json"
  echo "mixed: rps p50 p99 non-2xx = $(wrk_summary "$OUT/$name-mixed.txt")"
  echo "interactive reads during the mixed load: $(grep -E 'Requests/sec|99%|50%' "$OUT/$name-mixed-reader.txt" | tr -s ' ' | tr '\n' ';')"
  echo "projection lag right after: $(cat "$OUT/$name-readyz.json")"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
  rm -rf "$data"
}

target/release/examples/bare_poem 127.0.0.1:8099 &
pids+=($!)
sleep 0.5
echo "== bare poem handler, $READ_SECONDS s"
wrk -t2 -c"$CONNECTIONS" -d"${READ_SECONDS}s" --latency http://127.0.0.1:8099/bare >"$OUT/bare.txt"
echo "bare: rps p50 p99 non-2xx = $(wrk_summary "$OUT/bare.txt")"
kill "${pids[-1]}"

bench_backend sqlite 8091 ""
if [ "${SKIP_POSTGRES:-}" != 1 ]; then
  db="bufdir_load_$$"
  psql "$POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  bench_backend postgres 8092 "${POSTGRES_URL%/*}/$db"
  psql "$POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
fi
