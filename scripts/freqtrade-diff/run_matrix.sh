#!/usr/bin/env bash
# Differential conformance: run every configuration of matrix.txt through `tradai backtest` and
# through real Freqtrade 2026.9 (run_freqtrade.py, offline), then compare trade by trade.
#
# usage: scripts/freqtrade-diff/run_matrix.sh [options]
#   --only A,B          run only these matrix names
#   --reference MODE    freqtrade (default): run Freqtrade now (needs the venv, see README.md)
#                       fixtures: compare against crates/cli/tests/fixtures/freqtrade/<name>.json[.gz]
#                       (no Freqtrade needed)
#   --update-fixtures   (with --reference freqtrade) rewrite the fixtures from this run
#   --no-build          do not run `cargo build --release -p tradai-cli` first
#   --freqtrade-only    only run Freqtrade (e.g. with --update-fixtures); no tradai, no compare
#   --out DIR           keep all outputs here (default: a new /tmp/ftdiff-matrix.* folder)
# environment:
#   FT_PYTHON  python of the Freqtrade venv        (default /opt/ft-venv/bin/python)
#   TRADAI     tradai binary                        (default <repo>/target/release/tradai)
#   TESTDATA   the folder with freqtrade/ candles and conformance/strategies (default <repo>/testdata)
# exit status: 0 when every run matches, 1 otherwise.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
FT_PYTHON="${FT_PYTHON:-/opt/ft-venv/bin/python}"
TRADAI="${TRADAI:-$ROOT/target/release/tradai}"
TESTDATA="${TESTDATA:-$ROOT/testdata}"
DATA_SRC="$TESTDATA/freqtrade"
STRATEGIES="$TESTDATA/conformance/strategies"
MARKETS="$HERE/markets.json"
MATRIX="$HERE/matrix.txt"
FIXTURES="$ROOT/crates/cli/tests/fixtures/freqtrade"

ONLY=""
REFERENCE=freqtrade
UPDATE=0
BUILD=1
FTONLY=0
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) ONLY="$2"; shift 2 ;;
    --reference) REFERENCE="$2"; shift 2 ;;
    --update-fixtures) UPDATE=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --freqtrade-only) FTONLY=1; BUILD=0; shift ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
    *) echo "run_matrix.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$REFERENCE" in freqtrade|fixtures) ;; *) echo "run_matrix.sh: --reference must be freqtrade or fixtures" >&2; exit 2 ;; esac
if [[ $UPDATE == 1 && $REFERENCE != freqtrade ]]; then
  echo "run_matrix.sh: --update-fixtures needs --reference freqtrade" >&2; exit 2
fi
if [[ $REFERENCE == freqtrade ]] && ! "$FT_PYTHON" -c 'import freqtrade' 2>/dev/null; then
  echo "run_matrix.sh: no freqtrade in $FT_PYTHON; create the venv (see scripts/freqtrade-diff/README.md) or use --reference fixtures" >&2
  exit 2
fi

if [[ $BUILD == 1 ]]; then
  echo "== cargo build --release -p tradai-cli (waits while another build holds the target dir)"
  (cd "$ROOT" && nice -n 5 cargo build --release -p tradai-cli --quiet)
fi
if [[ $FTONLY == 1 && $REFERENCE != freqtrade ]]; then
  echo "run_matrix.sh: --freqtrade-only needs --reference freqtrade" >&2; exit 2
fi
[[ $FTONLY == 1 || -x "$TRADAI" ]] || { echo "run_matrix.sh: no tradai binary at $TRADAI" >&2; exit 2; }

OUT="${OUT:-$(mktemp -d /tmp/ftdiff-matrix.XXXXXX)}"
mkdir -p "$OUT"
STORE="$OUT/store"
echo "== outputs in $OUT"
if [[ $FTONLY == 0 && ! -d "$STORE" ]]; then
  echo "== tradai data import freqtrade $DATA_SRC"
  "$TRADAI" data import freqtrade "$DATA_SRC" --exchange binance --markets "$MARKETS" --data-dir "$STORE" > "$OUT/import.log" 2>&1 \
    || { cat "$OUT/import.log" >&2; exit 1; }
fi

trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; s="${s%"${s##*[![:space:]]}"}"; printf '%s' "$s"; }
count_trades() { python3 - "$1" <<'EOF' 2>/dev/null || echo "?"
import gzip, json, sys
p = sys.argv[1]
raw = open(p, "rb").read()
d = json.loads(gzip.decompress(raw) if p.endswith(".gz") else raw)
print(len(d.get("trades", [])))
EOF
}

declare -a ROWS=()
FAILS=0
RUNS=0
while IFS='|' read -r name strategy pairs timeframe timerange stake wallet mot fee mode lev; do
  name="$(trim "$name")"
  [[ -z "$name" || "$name" == \#* ]] && continue
  if [[ -n "$ONLY" && ",$ONLY," != *",$name,"* ]]; then continue; fi
  strategy="$(trim "$strategy")"; pairs="$(trim "$pairs")"; timeframe="$(trim "$timeframe")"
  timerange="$(trim "$timerange")"; stake="$(trim "$stake")"; wallet="$(trim "$wallet")"
  mot="$(trim "$mot")"; fee="$(trim "$fee")"; mode="$(trim "$mode")"; lev="$(trim "$lev")"
  RUNS=$((RUNS + 1))
  common=(--strategy "$strategy" --pairs "$pairs" --stake-amount "$stake" --wallet "$wallet"
          --max-open-trades "$mot" --fee "$fee")
  [[ "$timeframe" != "-" ]] && common+=(--timeframe "$timeframe")
  # --timerange=VALUE: an open start (-20180120) would otherwise parse as a flag
  [[ "$timerange" != "-" ]] && common+=("--timerange=$timerange")
  if [[ "$mode" == futures ]]; then
    common+=(--trading-mode futures)
    [[ "$lev" != "-" ]] && common+=(--leverage "$lev")
  fi
  echo "== $name"

  tradai_out="$OUT/$name.tradai.json"
  tradai_status=ok
  if [[ $FTONLY == 1 ]]; then
    :
  elif ! "$TRADAI" backtest --data-dir "$STORE" --exchange binance "${common[@]}" --export "$tradai_out" \
      > "$OUT/$name.tradai.log" 2>&1; then
    tradai_status="error: $(tail -n 1 "$OUT/$name.tradai.log")"
  fi

  if [[ $REFERENCE == freqtrade ]]; then
    ref="$OUT/$name.freqtrade.json"
    fx=()
    [[ $UPDATE == 1 ]] && fx=(--fixture "$FIXTURES/$name.json")
    if ! "$FT_PYTHON" "$HERE/run_freqtrade.py" "${common[@]}" --name "$name" \
        --strategy-path "$STRATEGIES" --datadir "$DATA_SRC" --markets "$MARKETS" \
        --out "$ref" "${fx[@]}" > "$OUT/$name.freqtrade.log" 2>&1; then
      ROWS+=("$name|?|?|FREQTRADE ERROR|$(tail -n 1 "$OUT/$name.freqtrade.log")")
      FAILS=$((FAILS + 1)); continue
    fi
  else
    ref="$FIXTURES/$name.json"
    [[ -f "$ref" ]] || ref="$FIXTURES/$name.json.gz"
    if [[ ! -f "$ref" ]]; then
      ROWS+=("$name|?|?|NO FIXTURE|$FIXTURES/$name.json[.gz] missing"); FAILS=$((FAILS + 1)); continue
    fi
  fi
  nref="$(count_trades "$ref")"
  if [[ $FTONLY == 1 ]]; then
    ROWS+=("$name|$nref|-|FREQTRADE ONLY|$(tail -n 1 "$OUT/$name.freqtrade.log")"); continue
  fi

  if [[ "$tradai_status" != ok ]]; then
    ROWS+=("$name|$nref|-|TRADAI ERROR|$tradai_status"); FAILS=$((FAILS + 1)); continue
  fi
  ntr="$(count_trades "$tradai_out")"
  if python3 "$HERE/compare.py" --name "$name" "$ref" "$tradai_out" > "$OUT/$name.compare.txt" 2>&1; then
    ROWS+=("$name|$nref|$ntr|MATCH|")
  else
    first="$(grep -m1 -A1 'FIRST DIFFERING TRADE' "$OUT/$name.compare.txt" | tail -n 1 | sed 's/^ *- //')"
    [[ -z "$first" ]] && first="$(grep -m1 -E 'summary:|unclosed_trades:' "$OUT/$name.compare.txt" | sed 's/^ *//')"
    ROWS+=("$name|$nref|$ntr|MISMATCH|$first"); FAILS=$((FAILS + 1))
  fi
  sed -n '2,200p' "$OUT/$name.compare.txt" | head -n 40
done < "$MATRIX"

echo
echo "| run | freqtrade trades | tradai trades | result | first difference |"
echo "|---|---|---|---|---|"
for r in "${ROWS[@]}"; do
  IFS='|' read -r a b c d e <<< "$r"
  echo "| $a | $b | $c | $d | ${e//|//} |"
done
echo
if [[ $FTONLY == 1 ]]; then echo "$RUNS freqtrade runs, $FAILS failed"; [[ $FAILS == 0 ]]; exit; fi
echo "$((RUNS - FAILS)) passed, $FAILS failed"
echo "(details: $OUT/<run>.compare.txt; exports: $OUT/<run>.{tradai,freqtrade}.json)"
[[ $FAILS == 0 ]]
