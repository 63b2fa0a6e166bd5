#!/usr/bin/env bash
# One command from a fresh clone to a first result: build tradai, import the bundled sample
# candles (ten Binance BTC pairs, 5m, January 2018) into a local store, list them and run a
# backtest with a report and an equity plot. No network; everything it needs is in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

# The same store every later `tradai` command reads by default (~/.tradai/data), so
# `tradai data list` after the quickstart shows these candles.
DATA_DIR="${TRADAI_DATA_DIR:-$HOME/.tradai/data}"
OUT_DIR="${TRADAI_OUT_DIR:-$PWD/.tradai/out}"
mkdir -p "$OUT_DIR"

cargo build --release --locked -p tradai-cli
TRADAI=./target/release/tradai

"$TRADAI" --data-dir "$DATA_DIR" data import freqtrade sample-data/binance --exchange binance \
  --markets sample-data/binance/markets.json
"$TRADAI" --data-dir "$DATA_DIR" data list
"$TRADAI" --data-dir "$DATA_DIR" data validate --exchange binance --timeframe 5m
if "$TRADAI" backtest --help >/dev/null 2>&1; then
  "$TRADAI" --data-dir "$DATA_DIR" backtest --exchange binance --strategy EmaCross \
    --pairs ADA/BTC,DASH/BTC,ETC/BTC,ETH/BTC,LTC/BTC,NXT/BTC,TRX/BTC,XLM/BTC,XMR/BTC,ZEC/BTC \
    --timeframe 5m --stake-amount 0.05 --wallet 1 --max-open-trades 3 --fee 0.001 \
    --export "$OUT_DIR/EmaCross.json" --plot "$OUT_DIR/EmaCross.svg"
  echo "trades and summary: $OUT_DIR/EmaCross.json   equity plot: $OUT_DIR/EmaCross.svg"
fi
echo
echo "candles stored in $DATA_DIR (the default data dir of every tradai command)"
echo "the binary is $PWD/target/release/tradai; put it on PATH with"
echo "  cargo install --locked --path crates/cli     (or: export PATH=\"$PWD/target/release:\$PATH\")"
