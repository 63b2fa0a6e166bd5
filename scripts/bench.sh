#!/usr/bin/env bash
# Measures the performance targets recorded in docs/BENCHMARKS.md. Release build; run on an
# otherwise idle machine. Usage: scripts/bench.sh [store|backtest|strategy-files|all]
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

if [ "$what" = strategy-files ] || [ "$what" = all ]; then
  echo "== strategy files: EmaCross built in, as the reference .py file (Python workers) and as TOML"
  PY="${TRADAI_PYTHON:-$(scripts/python-venv.sh)}"
  if [ ! -d "$BENCH_DIR/ft" ]; then
    "$TRADAI" --data-dir "$BENCH_DIR/ft" -q data import freqtrade testdata/freqtrade --exchange binance > /dev/null
  fi
  if [ ! -d "$BENCH_DIR/synth" ]; then
    "$TRADAI" --data-dir "$BENCH_DIR" -q data synth --pairs 10 --timeframe 1m --days 365 --seed 1
  fi
  REF_PAIRS=ADA/BTC,DASH/BTC,ETC/BTC,ETH/BTC,LTC/BTC,NXT/BTC,TRX/BTC,XLM/BTC,XMR/BTC,ZEC/BTC
  SYN_PAIRS=$(seq -s, -f 'SYN%g/USDT' 0 9)
  for src in "--strategy EmaCross" \
             "--strategy-path testdata/conformance/strategies --strategy EmaCross" \
             "--strategy-file testdata/strategies/EmaCrossToml.toml --strategy EmaCrossToml"; do
    for run in 1 2 3; do
      # shellcheck disable=SC2086 # $src is several flags
      TRADAI_PYTHON="$PY" /usr/bin/time -f "reference data, $src, run $run: wall %e s" "$TRADAI" --data-dir "$BENCH_DIR/ft" -q \
        backtest $src --pairs "$REF_PAIRS" --timeframe 5m --stake-amount 0.05 --wallet 1 --max-open-trades 3 --json > /dev/null
      # shellcheck disable=SC2086
      TRADAI_PYTHON="$PY" /usr/bin/time -f "10 x 1y of 1m, $src, run $run: wall %e s" "$TRADAI" --data-dir "$BENCH_DIR" -q \
        backtest $src --exchange synth --pairs "$SYN_PAIRS" --timeframe 1m --stake-amount 100 --wallet 10000 \
        --max-open-trades 5 --json > /dev/null
    done
  done
fi
