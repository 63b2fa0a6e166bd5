#!/usr/bin/env bash
# The dashboard's browser test: headless Chromium (Debian's `chromium` package, installed when
# missing) driven by playwright-core (pinned by crates/dashboard/tests/browser/package-lock.json,
# installed with `npm ci`) against a real `tradai up` over the sample data. Screenshots of each
# page land in target/dashboard-screenshots/ (not committed). Exits non-zero when a check fails.
#
#   scripts/browser-test.sh            # builds the debug binary first
#   TRADAI_BIN=path/to/tradai scripts/browser-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
if [ -z "${TRADAI_BIN:-}" ]; then
  cargo build --locked -p tradai-cli
  TRADAI_BIN="${CARGO_TARGET_DIR:-target}/debug/tradai"
fi
TRADAI_BIN="$(cd "$(dirname "$TRADAI_BIN")" && pwd)/$(basename "$TRADAI_BIN")"
# The embedded tracker under the test's data dir, whatever the environment points at.
unset MLFLOW_TRACKING_URI TRADAI_TRACKING__URI
export TRADAI_BIN CHROMIUM="${CHROMIUM:-$(command -v chromium)}"

cd crates/dashboard/tests/browser
npm ci --no-audit --no-fund --silent
node dashboard.test.mjs
