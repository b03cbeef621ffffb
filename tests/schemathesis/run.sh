#!/usr/bin/env bash
# Generated tests of openapi/accord.json against a running server (issue 17, item 8):
# schemathesis with every check, in two passes on a fresh SQLite database each: auth off,
# and --auth with an admin key (so the guarded routes run their handlers). Fails on any
# finding, on any 5xx (the not_a_server_error check) and if the server dies.
#
#   tests/schemathesis/run.sh ACCORD_BINARY ST
#
# ACCORD_BINARY is a built `accord` (target/debug/accord); ST is the `st` executable of a
# schemathesis install (.ci/run pins it). Environment:
#   ST_MAX_EXAMPLES  test cases per operation and phase (default 50)
#   ST_SEED          generation seed (default 1, so a run is repeatable; a finding
#                    prints the seed and `st replay` data to reproduce it)
#   ST_PORT          first of the two ports the servers listen on (default 18081)
#   ST_KEEP          keep the work directory (logs, reports) when set
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 ACCORD_BINARY ST" >&2
  exit 2
fi
ACCORD="$(realpath "$1")"
ST="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-50}"
SEED="${ST_SEED:-1}"
PORT="${ST_PORT:-18081}"
WORK="$(mktemp -d -t accord-schemathesis.XXXXXX)"
SERVER_PID=""

cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -z "${ST_KEEP:-}" ]; then rm -rf "$WORK"; else echo "schemathesis work directory: $WORK"; fi
}
trap cleanup EXIT

answers() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://127.0.0.1:$1/health/ready" >/dev/null 2>&1
}

# pass NAME PORT [--auth]: one server, one schemathesis run; returns st's exit code.
pass() {
  local name="$1" port="$2" auth="${3:-}"
  local dir="$WORK/$name"
  mkdir -p "$dir"
  local db="sqlite://$dir/accord.db"
  local st_auth=()
  if [ -n "$auth" ]; then
    # An admin key made offline, sent as HTTP Basic as Confluent clients do.
    local basic
    basic="$("$ACCORD" admin bootstrap --database-url "$db" --audit-key-file "$dir/audit.key" 2>/dev/null |
      sed -n 's/^basic: *//p')"
    if [ -z "$basic" ]; then
      echo "FATAL: accord admin bootstrap made no key" >&2
      return 1
    fi
    # Operations that can take that key away (rotate it, revoke it, disable or demote
    # its principal) would leave the rest of the pass with 401s only: the open pass
    # tests them.
    st_auth=(--auth "$basic"
      --exclude-path /v1/keys/rotate
      --exclude-path '/v1/principals/{name}'
      --exclude-path '/v1/principals/{name}/disable'
      --exclude-path '/v1/principals/{name}/keys/{key_id}')
  fi
  if answers "$port"; then
    echo "FATAL: something already answers at 127.0.0.1:$port; set ST_PORT" >&2
    return 1
  fi
  "$ACCORD" serve --listen "127.0.0.1:$port" --database-url "$db" \
    --audit-key-file "$dir/audit.key" ${auth:+--auth} >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 60); do
    answers "$port" && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.5
  done
  if ! answers "$port"; then
    echo "FATAL: the server did not start; its log:" >&2
    cat "$dir/server.log" >&2
    return 1
  fi
  echo "schemathesis ($name): $("$ST" --version) against 127.0.0.1:$port, ${MAX_EXAMPLES} examples, seed ${SEED}"
  local rc=0
  # From the work directory: schemathesis writes its example database and reports
  # into the current one, which must not be the repository.
  (cd "$dir" && "$ST" --config-file "$HERE/schemathesis.toml" --no-color run \
    "http://127.0.0.1:$port/openapi.json" \
    --checks all --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers 2 \
    --generation-database none --request-timeout 30 \
    "${st_auth[@]}") || rc=$?
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "FATAL: the server died under the $name pass; the end of its log:" >&2
    tail -n 50 "$dir/server.log" >&2
    rc=1
  elif grep -q "panicked" "$dir/server.log"; then
    echo "FATAL: the server panicked under the $name pass:" >&2
    grep -A5 "panicked" "$dir/server.log" >&2
    rc=1
  fi
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  return "$rc"
}

status=0
pass open "$PORT" || status=1
pass auth "$((PORT + 1))" --auth || status=1
if [ "$status" -ne 0 ]; then
  echo "schemathesis found mismatches between openapi/accord.json and the server (above)" >&2
fi
exit "$status"
