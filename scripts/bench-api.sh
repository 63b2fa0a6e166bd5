#!/usr/bin/env bash
# API throughput and latency with wrk, on loopback only: status reads (GET one job) and durable
# submissions (POST /api/v1/backtests: validated, committed to SQLite with synchronous=FULL
# before the 202 — group commit makes many submissions share one flush).
#
#   scripts/bench-api.sh                      # 10 s per run, 32 connections, 2 wrk threads
#   DURATION=30s CONNECTIONS=64 scripts/bench-api.sh
#
# The server runs with `--workers 0`: submissions are accepted and stay PENDING, so the numbers
# measure the API and the durable write, not backtests competing for the same two cores.
# Rate limits are off for the run (TRADAI_SERVER__RATE_LIMIT_PER_SEC=0).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }

if [ -z "${TRADAI_BIN:-}" ]; then
  cargo build --release --locked -q -p tradai-cli
  TRADAI_BIN=target/release/tradai
fi

TMP="$(mktemp -d)"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

"$TRADAI_BIN" --data-dir "$TMP/data" --quiet data import freqtrade sample-data/binance --exchange binance \
  --markets sample-data/binance/markets.json >/dev/null
TRADAI_SERVER__RATE_LIMIT_PER_SEC=0 "$TRADAI_BIN" --data-dir "$TMP/data" --log-level warn up \
  --backend-port 0 --data-collection-port 0 --strategy-service-port 0 --workers 0 \
  >"$TMP/up.out" 2>"$TMP/up.err" &
PID=$!
for _ in $(seq 1 100); do
  [ "$(grep -c 'http://' "$TMP/up.out" 2>/dev/null || true)" -ge 3 ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$TMP/up.err" >&2; exit 1; }
  sleep 0.1
done
BASE="$(grep '^backend-api: ' "$TMP/up.out" | sed 's/^[^ ]* //')"

BODY='{"strategy":"EmaCross","pairs":["ETH/BTC","LTC/BTC"],"timeframe":"5m","stake_amount":0.05,"dry_run_wallet":1,"max_open_trades":3,"fee":0.001}'
JOB="$(curl -sf -X POST "$BASE/api/v1/backtests" -H 'content-type: application/json' -d "$BODY" | sed 's/.*"job_id":"\([^"]*\)".*/\1/')"
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
LUA

summary() { # name, wrk output file
  local rps p50 p99 non2xx
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$2")"
  p50="$(awk '$1=="50%" {print $2}' "$2")"
  p99="$(awk '$1=="99%" {print $2}' "$2")"
  non2xx="$(awk '/Non-2xx/ {print $NF}' "$2")"
  printf '%-22s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$1" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

echo "machine: $(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$BASE/api/v1/backtests/$JOB" >"$TMP/read.txt"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$TMP/post.lua" "$BASE/api/v1/backtests" >"$TMP/write.txt"
if [ "${VERBOSE:-}" = 1 ]; then cat "$TMP/read.txt" "$TMP/write.txt"; fi
summary "status read (GET)" "$TMP/read.txt"
summary "submission (POST)" "$TMP/write.txt"
echo "jobs stored: $(curl -sf "$BASE/api/v1/backtests?limit=1" | sed 's/.*"total":\([0-9]*\).*/\1/')"
