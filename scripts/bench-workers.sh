#!/usr/bin/env bash
# Wall time of 20 backtests through EXECUTOR_MODE=sqs with 1 and with 2 `tradai worker`
# processes, on moto's AWS emulator, everything on 127.0.0.1. Each round deploys the persistent
# stack (`tradai deploy apply --env dev --only persistent`, its own stack prefix) and runs on
# its outputs: the queue, the DynamoDB job table, candles in `s3://<data bucket>/candles` and
# every job's artifacts copied to the results bucket; `tradai up` and each worker keep their
# local state in their own TRADAI_STATE_DIR, as on separate machines:
#
#   scripts/bench-workers.sh                 # JOBS=20, workers 1 then 2
#   JOBS=40 WORKER_COUNTS="1 2 4" scripts/bench-workers.sh
#   TRADAI_BIN=target/debug/tradai scripts/bench-workers.sh   # an existing binary
#
# Each worker runs one job at a time (--workers 1), so the numbers show how the queue spreads
# jobs over processes. The clock starts before the first submission and stops when the last
# job is COMPLETED. The emulator comes from scripts/moto-server.sh (pinned, in .venv/moto).
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS="${JOBS:-20}"
WORKER_COUNTS="${WORKER_COUNTS:-1 2}"
if [ -z "${TRADAI_BIN:-}" ]; then
  cargo build --release --locked -q -p tradai-cli
  TRADAI_BIN="${CARGO_TARGET_DIR:-target}/release/tradai"
fi
TRADAI_BIN="$(realpath "$TRADAI_BIN")"

scripts/moto-server.sh --install-only
ENDPOINT="$(scripts/moto-server.sh)"
export AWS_ENDPOINT_URL="$ENDPOINT" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
PY="${MOTO_VENV:-.venv/moto}/bin/python"

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

PAIRS="ADA/BTC,DASH/BTC,ETC/BTC,ETH/BTC,LTC/BTC,NXT/BTC,TRX/BTC,XLM/BTC,XMR/BTC,ZEC/BTC"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $JOBS backtests (EmaCross, 10 pairs, 5m, January 2018)"

for N in $WORKER_COUNTS; do
  RUN="bench$N$$"
  "$TRADAI_BIN" deploy apply --env dev --only persistent --stack-prefix "$RUN" >"$TMP/stack-$N.json"
  out() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['outputs'][sys.argv[2]])" "$TMP/stack-$N.json" "$1"; }
  QUEUE="$(out queue_url)"
  DATA="s3://$(out data_bucket)/candles"
  export DYNAMODB_TABLE_NAME="$(out table_name)" BACKEND_BACKTEST_QUEUE_URL="$QUEUE" S3_RESULTS_BUCKET="$(out results_bucket)"
  "$TRADAI_BIN" --data-dir "$DATA" --quiet data import freqtrade sample-data/binance --exchange binance \
    --markets sample-data/binance/markets.json >/dev/null
  EXECUTOR_MODE=sqs TRADAI_STATE_DIR="$TMP/up-$N" "$TRADAI_BIN" --data-dir "$DATA" --log-level warn up \
    --backend-port 0 --data-collection-port 0 --strategy-service-port 0 >"$TMP/up-$N.out" 2>"$TMP/up-$N.err" &
  UP=$!
  PIDS+=("$UP")
  for _ in $(seq 1 300); do
    [ "$(grep -c 'http://' "$TMP/up-$N.out" 2>/dev/null || true)" -ge 3 ] && break
    kill -0 "$UP" 2>/dev/null || { cat "$TMP/up-$N.err" >&2; exit 1; }
    sleep 0.1
  done
  API="$(grep '^backend-api: ' "$TMP/up-$N.out" | sed 's/^[^ ]* //')"
  WORKERS=()
  for i in $(seq 1 "$N"); do
    TRADAI_STATE_DIR="$TMP/worker-$N-$i" "$TRADAI_BIN" --data-dir "$DATA" --log-level warn worker --queue-url "$QUEUE" --workers 1 --wait-secs 1 \
      >"$TMP/worker-$N-$i.out" 2>"$TMP/worker-$N-$i.err" &
    WORKERS+=("$!")
    PIDS+=("$!")
  done
  for i in $(seq 1 "$N"); do
    until [ -s "$TMP/worker-$N-$i.out" ]; do sleep 0.1; done
  done
  START="$(date +%s.%N)"
  for _ in $(seq 1 "$JOBS"); do
    "$TRADAI_BIN" jobs submit --api "$API" --strategy EmaCross --pairs "$PAIRS" --timeframe 5m \
      --stake-amount 0.05 --wallet 1 --max-open-trades 3 --fee 0.001 --json >/dev/null
  done
  while true; do
    DONE="$("$TRADAI_BIN" jobs list --api "$API" --status COMPLETED --json | "$PY" -c "import json,sys; print(json.load(sys.stdin)['total'])")"
    [ "$DONE" -ge "$JOBS" ] && break
    sleep 0.2
  done
  END="$(date +%s.%N)"
  "$PY" -c "import sys; print(f'{sys.argv[1]} worker(s): {sys.argv[2]} backtests in {float(sys.argv[4]) - float(sys.argv[3]):.1f} s')" "$N" "$JOBS" "$START" "$END"
  for p in "${WORKERS[@]}" "$UP"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${WORKERS[@]}" "$UP"; do wait "$p" 2>/dev/null || true; done
  # Every job's export is in the results bucket.
  EXPORTS="$("$PY" -c "import boto3,sys; print(sum(o['Key'].endswith('/export.json') for p in boto3.client('s3').get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1]) for o in p.get('Contents', [])))" "$S3_RESULTS_BUCKET")"
  echo "  exports in s3://$S3_RESULTS_BUCKET: $EXPORTS"
  unset DYNAMODB_TABLE_NAME BACKEND_BACKTEST_QUEUE_URL S3_RESULTS_BUCKET
done
