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

VENV="${MLFLOW_VENV:-$PWD/.venv/mlflow}"
PORT="${MLFLOW_PORT:-5055}"
DIR="${MLFLOW_DIR:-${CARGO_TARGET_DIR:-target}/mlflow}"
REQS="scripts/mlflow-requirements.txt"
URI="http://127.0.0.1:$PORT"
PIDFILE="$DIR/server.pid"

log() { echo "mlflow-server: $*" >&2; }

healthy() { python3 - "$URI/health" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

our_pid() { # the pid of the server this script started, if it is still alive
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop() {
  local pid
  if pid="$(our_pid)"; then
    # The server is its own process group (setsid): the gunicorn master and its worker go too.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "stopped (pid $pid)"
  else
    log "not running"
  fi
  rm -f "$PIDFILE"
}

install() {
  local want; want="$(sha256sum "$REQS" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/mlflow" ] && [ "$(cat "$VENV/.tradai-stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "installing MLflow into $VENV (a few minutes, once)"
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS" >&2
  echo "$want" >"$VENV/.tradai-stamp"
}

case "${1:-}" in
  --stop) stop; exit 0 ;;
  --install-only) install; exit 0 ;;
  "") ;;
  *) log "unknown argument '$1' (expected --stop or --install-only)"; exit 2 ;;
esac

install

wait_healthy() { # up to 120 s; the first start creates the database schema
  for _ in $(seq 1 600); do
    if healthy; then return 0; fi
    our_pid >/dev/null || return 1
    sleep 0.2
  done
  return 1
}

if our_pid >/dev/null; then
  # Ours, running (or still starting, from a concurrent call): reuse it.
  if wait_healthy; then echo "$URI"; exit 0; fi
  log "the server in $PIDFILE does not answer; restarting it"
fi
if healthy; then
  log "port $PORT already answers /health but not from a server this script started ($PIDFILE);"
  log "stop it or choose another MLFLOW_PORT"
  exit 1
fi
stop 2>/dev/null || true

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

if wait_healthy; then
  log "listening on $URI (data in $DIR_ABS, log in $DIR_ABS/server.log)"
  echo "$URI"
  exit 0
fi
log "no answer from $URI/health; last lines of $DIR_ABS/server.log:"
tail -20 "$DIR_ABS/server.log" >&2
stop
exit 1
