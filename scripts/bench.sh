#!/usr/bin/env bash
# Measures the performance targets recorded in docs/BENCHMARKS.md. Release build; run on an
# otherwise idle machine. Usage: scripts/bench.sh [store|backtest|all]
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
BENCH_DIR="${BENCH_DIR:-/tmp/tradai-bench}"

cargo build --release --locked -p tradai-cli
TRADAI=./target/release/tradai

if [ "$what" = store ] || [ "$what" = all ]; then
  echo "== candle store (read one pair-year of 1m, append throughput, bytes per candle)"
  cargo bench --locked -p tradai-store --bench store
fi

if [ "$what" = backtest ] || [ "$what" = all ]; then
  echo "== backtest engine (EmaCross, indicators + simulation, one core)"
  RAYON_NUM_THREADS=1 cargo bench --locked -p tradai-engine --bench engine
  echo "== whole tradai backtest process: 10 pairs x 1 year of 1m candles (5.26M candles)"
  if [ ! -d "$BENCH_DIR/synth" ]; then
    "$TRADAI" --data-dir "$BENCH_DIR" -q data synth --pairs 10 --timeframe 1m --days 365 --seed 1
  fi
  PAIRS=$(seq -s, -f 'SYN%g/USDT' 0 9)
  for run in 1 2 3; do
    /usr/bin/time -f "run $run: wall %e s, peak RSS %M KiB" "$TRADAI" --data-dir "$BENCH_DIR" -q backtest \
      --exchange synth --strategy EmaCross --pairs "$PAIRS" --timeframe 1m \
      --stake-amount 100 --wallet 10000 --max-open-trades 5 --fee 0.001 --json > /dev/null
  done
  echo "== the same with --export (every trade written as JSON, ~47 MB)"
  for run in 1 2 3; do
    /usr/bin/time -f "run $run: wall %e s, peak RSS %M KiB" "$TRADAI" --data-dir "$BENCH_DIR" -q backtest \
      --exchange synth --strategy EmaCross --pairs "$PAIRS" --timeframe 1m \
      --stake-amount 100 --wallet 10000 --max-open-trades 5 --fee 0.001 --json \
      --export "$BENCH_DIR/export.json" > /dev/null
  done
  echo "raw candle bytes: 5,256,000 candles x 48 B = 252.3 MB"
fi
