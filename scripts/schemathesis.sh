#!/usr/bin/env bash
# Property-based API check: starts `tradai up` on a temporary data dir (sample candles imported,
# free ports), then runs schemathesis against each service's /openapi.json and fails when any
# generated request gets a 5xx answer (or the run itself fails).
#
#   scripts/schemathesis.sh                 # debug build, 100 examples per operation
#   MAX_EXAMPLES=300 scripts/schemathesis.sh
#
# Schemathesis lives in a virtualenv inside the project (default .venv/schemathesis, ignored by
# git; TRADAI_VENV to change), installed once from scripts/schemathesis-requirements.txt. Only
# 127.0.0.1 is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${TRADAI_VENV:-$PWD/.venv/schemathesis}"
MAX_EXAMPLES="${MAX_EXAMPLES:-100}"
# shellcheck source=scripts/lib/venv.sh
. scripts/lib/venv.sh
venv_install schemathesis "$VENV" scripts/schemathesis-requirements.txt bin/schemathesis "a minute"

if [ -z "${TRADAI_BIN:-}" ]; then
  cargo build --locked -q -p tradai-cli
  TRADAI_BIN="${CARGO_TARGET_DIR:-target}/debug/tradai"
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
# Rate limits off: schemathesis sends requests as fast as it can and a 429 would hide answers.
# Sync jobs it submits go to a closed loopback port (they fail, as jobs), never to an exchange.
NOWHERE=http://127.0.0.1:9
TRADAI_SERVER__RATE_LIMIT_PER_SEC=0 TRADAI_BINANCE_SPOT_URL=$NOWHERE TRADAI_BINANCE_FUTURES_URL=$NOWHERE TRADAI_BYBIT_URL=$NOWHERE \
  "$TRADAI_BIN" --data-dir "$TMP/data" up \
  --backend-port 0 --data-collection-port 0 --strategy-service-port 0 --workers 1 \
  >"$TMP/up.out" 2>"$TMP/up.err" &
PID=$!
for _ in $(seq 1 100); do
  [ "$(grep -c 'http://' "$TMP/up.out" 2>/dev/null || true)" -ge 3 ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$TMP/up.err" >&2; echo "tradai up exited" >&2; exit 1; }
  sleep 0.1
done
url() { grep "^$1: " "$TMP/up.out" | sed 's/^[^ ]* //'; }

status=0
BIN_DIR="$PWD"
cd "$TMP" # schemathesis keeps a cache directory in the working directory
for svc in backend-api data-collection strategy-service; do
  base="$(url "$svc")"
  echo "== $svc ($base)"
  # not_a_server_error: no 5xx for any generated request, valid or not.
  if ! "$VENV/bin/schemathesis" run "$base/openapi.json" \
      --checks not_a_server_error \
      --max-examples "$MAX_EXAMPLES" \
      --suppress-health-check all \
      --no-color; then
    status=1
  fi
done
if grep -q "request failed" "$TMP/up.err"; then
  echo "server logged internal errors:" >&2
  grep "request failed" "$TMP/up.err" | head -20 >&2
  status=1
fi
exit $status
