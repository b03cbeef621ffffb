#!/usr/bin/env bash
# The operator's benchmark of the HTTP server (issue 16): wrk with 1 thread and 64
# connections pinned to CPU 0, the server pinned to CPU 1, 2 s of warm-up then
# ACCORD_WRK_SECONDS (default 10) measured, and in the same run the same load against a
# minimal axum app answering a fixed JSON body of similar size (the ceiling,
# tests/examples/wrk_ceiling.rs). Prints req/s, p50, p99 and the ratio to the ceiling.
#
# Each GET workload's ceiling is measured just before it with the same wrk script and
# headers (the ceiling answers every path alike), so the load generator's own cost per
# request (a Lua script building each request, a longer header) is the same on both
# sides of the ratio; the first row is the ceiling under wrk's static request.
#
# Needs wrk and taskset (Debian: apt-get install wrk util-linux) and two CPUs.
# Run from the repository root: bash tests/wrk/run.sh
# ACCORD_WRK_DB=postgres://... runs the registry on PostgreSQL instead of SQLite.
# ACCORD_WRK_ONLY=auth runs only the --auth rows; ACCORD_WRK_ONLY=register only the
# registration row (ACCORD_WRK_PRIOR, default 50, prior versions per subject).
# ACCORD_WRK_SECONDS (default 6) is each measured run; each GET workload alternates
# ACCORD_WRK_ROUNDS (default 3) runs of the ceiling and of Accord and reports medians.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_MEASURED="${ACCORD_WRK_SECONDS:-6}"
SUBJECTS="${ACCORD_WRK_IDS:-1000}"
export ACCORD_WRK_IDS="$SUBJECTS"
CONNECTIONS=64
CEILING_ADDR=127.0.0.1:18091
ACCORD_ADDR=127.0.0.1:18092
WRK_DIR=tests/wrk

for tool in wrk taskset curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install wrk util-linux curl)" >&2; exit 2; }
done

# Two builds: `--example` would otherwise restrict both packages to that example.
cargo build --release -q -p accord --bin accord
cargo build --release -q -p accord-tests --example wrk_ceiling
TARGET="${CARGO_TARGET_DIR:-target}"
ACCORD=$TARGET/release/accord
CEILING=$TARGET/release/examples/wrk_ceiling

WORK=$(mktemp -d -t accord-wrk.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_up() {
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$@" && return 0
    sleep 0.1
  done
  echo "server did not come up: $*" >&2
  exit 1
}

# One wrk run: prints "req/s p50_ms p99_ms".
measure() {
  local url=$1 script=$2; shift 2
  local args=(-t1 -c"$CONNECTIONS" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  taskset -c 0 wrk "${args[@]}" -d2s "$@" "$url" >/dev/null
  taskset -c 0 wrk "${args[@]}" -d"${SECONDS_MEASURED}s" "$@" "$url" >"$WORK/wrk.out"
  awk '
    function ms(v) {
      if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
      if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
      if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
      return v
    }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    END {
      if (bad > 0) { printf "NON-2xx:%s ", bad }
      printf "%.0f %.2f %.2f\n", rps, p50, p99
    }' "$WORK/wrk.out"
}

row() {
  local name=$1 result=$2 ceiling_rps=$3 ceiling_p99=$4 nums=$2
  case "$result" in NON-2xx*) name="$name (errors: ${result%% *})"; nums=${result#* };; esac
  read -r rps p50 p99 <<<"$nums"
  awk -v n="$name" -v r="$rps" -v a="$p50" -v b="$p99" -v c="$ceiling_rps" -v d="$ceiling_p99" 'BEGIN {
    printf "| %-46s | %8.0f | %6.2f | %6.2f | %8.0f | %6.2f | %5.2f | %5.2f |\n", n, r, a, b, c, d, (c > 0 ? r / c : 0), (d > 0 ? b / d : 0)
  }'
}

# The ceiling runs throughout, on the same CPU as Accord (an idle server costs nothing).
taskset -c 1 "$CEILING" "$CEILING_ADDR" 2>/dev/null &
CEILING_PID=$!
PIDS+=($CEILING_PID)
wait_up "http://$CEILING_ADDR/"
CEIL=$(measure "http://$CEILING_ADDR/schemas/ids/1" "")
read -r CEIL_RPS CEIL_P50 CEIL_P99 <<<"$CEIL"

# A GET workload against the ceiling, then against Accord, ROUNDS times alternating (the
# machine's speed drifts between runs seconds apart): one row with each side's median
# req/s, p50 and p99, and the ratios of those medians.
# usage: versus NAME PATH SCRIPT [wrk args...]
ROUNDS="${ACCORD_WRK_ROUNDS:-3}"
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
versus() {
  local name=$1 path=$2 script=$3; shift 3
  local i c a
  : >"$WORK/ceiling.runs"; : >"$WORK/accord.runs"
  for i in $(seq 1 "$ROUNDS"); do
    measure "http://$CEILING_ADDR$path" "$script" "$@" >>"$WORK/ceiling.runs"
    measure "http://$ACCORD_ADDR$path" "$script" "$@" >>"$WORK/accord.runs"
  done
  c="$(awk '{print $(NF-2)}' "$WORK/ceiling.runs" | median) \
$(awk '{print $(NF-1)}' "$WORK/ceiling.runs" | median) $(awk '{print $NF}' "$WORK/ceiling.runs" | median)"
  a="$(awk '{print $(NF-2)}' "$WORK/accord.runs" | median) \
$(awk '{print $(NF-1)}' "$WORK/accord.runs" | median) $(awk '{print $NF}' "$WORK/accord.runs" | median)"
  grep -q NON-2xx "$WORK/accord.runs" && a="NON-2xx:$(grep -o 'NON-2xx:[0-9]*' "$WORK/accord.runs" | head -n1 | cut -d: -f2) $a"
  local rps p99
  read -r rps _ p99 <<<"$c"
  row "$name" "$a" "$rps" "$p99"
}

start_accord() {
  local db="${ACCORD_WRK_DB:-sqlite://$WORK/accord-$1.db}"
  shift
  taskset -c 1 "$ACCORD" serve --listen "$ACCORD_ADDR" --database-url "$db" \
    --latest-ttl-ms 1000 "$@" >"$WORK/serve.out" 2>"$WORK/serve.err" &
  ACCORD_PID=$!
  PIDS+=($ACCORD_PID)
  wait_up "http://$ACCORD_ADDR/health/live"
}

stop_accord() {
  kill "$ACCORD_PID"; wait "$ACCORD_PID" 2>/dev/null || true
}

CT='Content-Type: application/vnd.schemaregistry.v1+json'

# Seeds N subjects s{k}-value, one schema each (ids 1..N).
seed_ids() {
  local auth=("$@")
  seq 0 $((SUBJECTS - 1)) | xargs -P 4 -I{} curl -sf -o /dev/null "${auth[@]}" -H "$CT" \
    -X POST "http://$ACCORD_ADDR/subjects/s{}-value/versions" \
    -d '{"schema":"{\"type\":\"record\",\"name\":\"S{}\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}"}'
}

# 100 subjects w{k}-value with PRIOR versions each at FULL_TRANSITIVE, for the
# registration run.
seed_writes() {
  local auth=("$@") ct=$CT
  curl -sf -o /dev/null "${auth[@]}" -H "$ct" -X PUT "http://$ACCORD_ADDR/config" \
    -d '{"compatibility":"FULL_TRANSITIVE"}'
  local prior="${ACCORD_WRK_PRIOR:-50}"
  for v in $(seq 1 "$prior"); do
    seq 0 99 | xargs -P 4 -I{} curl -sf -o /dev/null "${auth[@]}" -H "$ct" \
      -X POST "http://$ACCORD_ADDR/subjects/w{}-value/versions" \
      -d "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"R\\\",\\\"fields\\\":[{\\\"name\\\":\\\"id\\\",\\\"type\\\":\\\"long\\\"},{\\\"name\\\":\\\"p$v\\\",\\\"type\\\":[\\\"null\\\",\\\"string\\\"],\\\"default\\\":null}]}\"}"
  done
}

# On PostgreSQL, VACUUM ANALYZE after the seeding, as autovacuum keeps a database in
# use (in this session's runs it made no difference beyond the run-to-run spread).
analyze() {
  case "${ACCORD_WRK_DB:-}" in
    postgres://*|postgresql://*)
      command -v psql >/dev/null && psql -q "$ACCORD_WRK_DB" -c "VACUUM ANALYZE" \
        || echo "psql not found: measuring without VACUUM ANALYZE" >&2 ;;
  esac
}

echo "wrk -t1 -c$CONNECTIONS pinned to CPU 0, servers pinned to CPU 1, 2 s warm-up, ${SECONDS_MEASURED} s measured, medians of $ROUNDS alternating runs per GET workload; $SUBJECTS subjects"
echo
echo "| workload | req/s | p50 ms | p99 ms | ceiling req/s | ceiling p99 ms | × ceiling req/s | × ceiling p99 |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
row "ceiling: minimal axum app, fixed JSON" "$CEIL" "$CEIL_RPS" "$CEIL_P99"

if [ "${ACCORD_WRK_ONLY:-}" = register ]; then
  start_accord plain
  seed_writes
  analyze
  CONNECTIONS=4 row "POST new version (FULL_TRANSITIVE, ${ACCORD_WRK_PRIOR:-50} prior, 4 conns)" \
    "$(CONNECTIONS=4 measure "http://$ACCORD_ADDR" "$WRK_DIR/register.lua")" 0 0
  stop_accord
  exit 0
fi

if [ "${ACCORD_WRK_ONLY:-}" != auth ]; then
start_accord plain
seed_ids
seed_writes
analyze
versus "GET /schemas/ids/{id}" "" "$WRK_DIR/ids.lua"
versus "GET /subjects/{s}/versions/latest" "" "$WRK_DIR/latest.lua"
versus "GET /health/live" /health/live ""
CONNECTIONS=4 row "POST new version (FULL_TRANSITIVE, ${ACCORD_WRK_PRIOR:-50} prior, 4 conns)" \
  "$(CONNECTIONS=4 measure "http://$ACCORD_ADDR" "$WRK_DIR/register.lua")" 0 0
stop_accord
fi

# The same id lookups with --auth: the first start prints an admin key on stderr.
start_accord auth --auth
KEY_ID=$(sed -n 's/.*key id: *//p' "$WORK/serve.err" | head -n1)
SECRET=$(sed -n 's/.*secret: *//p' "$WORK/serve.err" | head -n1)
[ -n "$KEY_ID" ] && [ -n "$SECRET" ] || { echo "no admin key printed" >&2; cat "$WORK/serve.err" >&2; exit 1; }
AUTH_HEADER="Authorization: Bearer $KEY_ID.$SECRET"
seed_ids -H "$AUTH_HEADER"
versus "GET /schemas/ids/{id} with --auth (Bearer)" "" "$WRK_DIR/ids.lua" -H "$AUTH_HEADER"
BASIC="Authorization: Basic $(printf '%s:%s' "$KEY_ID" "$SECRET" | base64 -w0)"
versus "GET /schemas/ids/{id} with --auth (Basic)" "" "$WRK_DIR/ids.lua" -H "$BASIC"

# Usage recording's cost (issue 18): a second node on the same database with recording
# off, on the same CPU, and the same Bearer lookups alternating between the two
# (2 x ROUNDS runs each, so the machine's drift falls on both alike).
OFF_ADDR=127.0.0.1:18093
taskset -c 1 "$ACCORD" serve --listen "$OFF_ADDR" --database-url "${ACCORD_WRK_DB:-sqlite://$WORK/accord-auth.db}" \
  --latest-ttl-ms 1000 --auth --usage-recording false >"$WORK/serve-off.out" 2>"$WORK/serve-off.err" &
OFF_PID=$!
PIDS+=($OFF_PID)
wait_up "http://$OFF_ADDR/health/live"
: >"$WORK/on.runs"; : >"$WORK/off.runs"
for i in $(seq 1 $((ROUNDS * 2))); do
  measure "http://$ACCORD_ADDR" "$WRK_DIR/ids.lua" -H "$AUTH_HEADER" >>"$WORK/on.runs"
  measure "http://$OFF_ADDR" "$WRK_DIR/ids.lua" -H "$AUTH_HEADER" >>"$WORK/off.runs"
done
ON_RPS=$(awk '{print $(NF-2)}' "$WORK/on.runs" | median)
OFF_RPS=$(awk '{print $(NF-2)}' "$WORK/off.runs" | median)
ON_P99=$(awk '{print $NF}' "$WORK/on.runs" | median)
OFF_P99=$(awk '{print $NF}' "$WORK/off.runs" | median)
echo
echo "Usage recording, GET /schemas/ids/{id} with --auth (Bearer), medians of $((ROUNDS * 2)) alternating runs:"
awk -v a="$ON_RPS" -v b="$OFF_RPS" -v c="$ON_P99" -v d="$OFF_P99" 'BEGIN {
  printf "  recording on %.0f req/s (p99 %.2f ms), off %.0f req/s (p99 %.2f ms): on/off %.3f (a drop of %.1f%%)\n", a, c, b, d, a / b, (1 - a / b) * 100
}'
kill "$OFF_PID"; wait "$OFF_PID" 2>/dev/null || true
stop_accord
