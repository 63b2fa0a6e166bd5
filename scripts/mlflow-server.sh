#!/usr/bin/env bash
# A local MLflow tracking server for the tests of tradai-tracking (and for trying TradAI against
# real MLflow): installs MLflow into a virtualenv when missing, starts
#   mlflow server --workers 1 --host 127.0.0.1 --port $PORT
#     --backend-store-uri sqlite:///$DIR/mlflow.db --artifacts-destination $DIR/artifacts
# in the background, waits for /health and prints the tracking URI (only that, on stdout):
#
#   export TRADAI_TEST_MLFLOW_URI="$(scripts/mlflow-server.sh)"
#   scripts/mlflow-server.sh --stop          # stops the server this script started
#   scripts/mlflow-server.sh --install-only  # only the venv (CI warms it up front)
#
# Idempotent: a server of ours already answering on the port is reused, and an installed venv
# (stamped with the hash of scripts/mlflow-requirements.txt) is not touched.
#
# Environment: MLFLOW_VENV (default .venv/mlflow in the project, ignored by git), MLFLOW_PORT (default 5055),
# MLFLOW_DIR (data, log and pid file; default target/mlflow). Only 127.0.0.1 is listened on.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER_NAME=mlflow-server
VENV="${MLFLOW_VENV:-$PWD/.venv/mlflow}"
PORT="${MLFLOW_PORT:-5055}"
DIR="${MLFLOW_DIR:-${CARGO_TARGET_DIR:-target}/mlflow}"
REQS="scripts/mlflow-requirements.txt"
VENV_EXE=bin/mlflow
INSTALL_TIME="a few minutes"
URI="http://127.0.0.1:$PORT"
PIDFILE="$DIR/server.pid"
STATE_FILES=("$PIDFILE")
# shellcheck source=scripts/lib/venv-server.sh
. scripts/lib/venv-server.sh

vs_command "${1:-}"
vs_install

# Up to 120 s: the first start creates the database schema.
if vs_our_pid >/dev/null; then
  # Ours, running (or still starting, from a concurrent call): reuse it.
  if vs_wait "$URI/health" 120; then echo "$URI"; exit 0; fi
  vs_log "the server in $PIDFILE does not answer; restarting it"
fi
if vs_answers "$URI/health"; then
  vs_log "port $PORT already answers /health but not from a server this script started ($PIDFILE);"
  vs_log "stop it or choose another MLFLOW_PORT"
  exit 1
fi
vs_stop 2>/dev/null || true

mkdir -p "$DIR/artifacts"
DIR_ABS="$(cd "$DIR" && pwd)"
# MLflow resolves relative paths against its working directory: run it in the data directory.
# setsid makes the server a process group of its own, so --stop ends its gunicorn workers too.
(
  cd "$DIR_ABS"
  exec setsid "$VENV/bin/mlflow" server --workers 1 --host 127.0.0.1 --port "$PORT" \
    --backend-store-uri "sqlite:///$DIR_ABS/mlflow.db" --artifacts-destination "$DIR_ABS/artifacts" \
    </dev/null >"$DIR_ABS/server.log" 2>&1
) &
echo $! >"$PIDFILE"

vs_started "$URI/health" 120 "$URI" "$DIR_ABS/server.log" "data in $DIR_ABS, log in $DIR_ABS/server.log"
