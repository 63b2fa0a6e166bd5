#!/usr/bin/env bash
# A local AWS emulator (moto's server) for the tests of tradai-aws and for trying TradAI's AWS
# back ends without an AWS account: installs the pinned moto into a virtualenv inside the
# project when missing, starts moto's server (scripts/moto-server.py: `moto_server -H 127.0.0.1
# -p $PORT` with DynamoDB requests serialised as real DynamoDB serialises writes to an item)
# in the background on a free port, waits for /moto-api/ and prints the endpoint URL (only that,
# on stdout):
#
#   export TRADAI_TEST_AWS_ENDPOINT="$(scripts/moto-server.sh)"
#   export AWS_ENDPOINT_URL="$TRADAI_TEST_AWS_ENDPOINT"   # what the SDK and object_store read
#   scripts/moto-server.sh --stop          # stops the server this script started
#   scripts/moto-server.sh --install-only  # only the venv (CI warms it up front)
#
# Idempotent: a server this script started that still answers is reused (same URL), and an
# installed venv (stamped with the hash of scripts/moto-requirements.txt) is not touched.
# The emulator keeps its state in memory: a restart forgets every table, queue and bucket.
#
# Environment: MOTO_VENV (default .venv/moto, ignored by git), MOTO_PORT (default: a free
# port), MOTO_DIR (log, pid and URL files; default target/moto). Only 127.0.0.1 is listened on.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${MOTO_VENV:-.venv/moto}"
DIR="${MOTO_DIR:-${CARGO_TARGET_DIR:-target}/moto}"
REQS="scripts/moto-requirements.txt"
PIDFILE="$DIR/server.pid"
URLFILE="$DIR/server.url"

log() { echo "moto-server: $*" >&2; }

answers() { # does $1/moto-api/ answer?
  python3 - "$1/moto-api/" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

our_pid() { # the pid of the server this script started, if it is still alive
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop() {
  local pid
  if pid="$(our_pid)"; then
    # The server is its own process group (setsid): anything it spawned goes too.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "stopped (pid $pid)"
  else
    log "not running"
  fi
  rm -f "$PIDFILE" "$URLFILE"
}

install() {
  local want; want="$(sha256sum "$REQS" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/moto_server" ] && [ "$(cat "$VENV/.tradai-stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "installing moto into $VENV (a minute or two, once)"
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

wait_answers() { # up to 60 s
  for _ in $(seq 1 300); do
    if answers "$1"; then return 0; fi
    our_pid >/dev/null || return 1
    sleep 0.2
  done
  return 1
}

if our_pid >/dev/null && [ -f "$URLFILE" ]; then
  # Ours, running (or still starting, from a concurrent call): reuse it.
  url="$(cat "$URLFILE")"
  if wait_answers "$url"; then echo "$url"; exit 0; fi
  log "the server in $PIDFILE does not answer at $url; restarting it"
fi
stop 2>/dev/null || true

PORT="${MOTO_PORT:-$(free_port)}"
URL="http://127.0.0.1:$PORT"
if answers "$URL"; then
  log "port $PORT already answers /moto-api/ but not from a server this script started; choose another MOTO_PORT"
  exit 1
fi
mkdir -p "$DIR"
DIR_ABS="$(cd "$DIR" && pwd)"
# setsid makes the server a process group of its own, so --stop ends everything it started.
# moto-server.py is moto_server with DynamoDB requests served one at a time (see its header).
setsid "$VENV/bin/python" scripts/moto-server.py 127.0.0.1 "$PORT" </dev/null >"$DIR_ABS/server.log" 2>&1 &
echo $! >"$PIDFILE"
echo "$URL" >"$URLFILE"

if wait_answers "$URL"; then
  log "listening on $URL (log in $DIR_ABS/server.log)"
  echo "$URL"
  exit 0
fi
log "no answer from $URL/moto-api/; last lines of $DIR_ABS/server.log:"
tail -20 "$DIR_ABS/server.log" >&2
stop
exit 1
