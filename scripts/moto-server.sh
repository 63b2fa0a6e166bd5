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

SERVER_NAME=moto-server
VENV="${MOTO_VENV:-.venv/moto}"
DIR="${MOTO_DIR:-${CARGO_TARGET_DIR:-target}/moto}"
REQS="scripts/moto-requirements.txt"
VENV_EXE=bin/moto_server
INSTALL_TIME="a minute or two"
PIDFILE="$DIR/server.pid"
URLFILE="$DIR/server.url"
STATE_FILES=("$PIDFILE" "$URLFILE")
# shellcheck source=scripts/lib/venv-server.sh
. scripts/lib/venv-server.sh

vs_command "${1:-}"
vs_install

if vs_our_pid >/dev/null && [ -f "$URLFILE" ]; then
  # Ours, running (or still starting, from a concurrent call): reuse it.
  url="$(cat "$URLFILE")"
  if vs_wait "$url/moto-api/" 60; then echo "$url"; exit 0; fi
  vs_log "the server in $PIDFILE does not answer at $url; restarting it"
fi
vs_stop 2>/dev/null || true

PORT="${MOTO_PORT:-$(vs_free_port)}"
URL="http://127.0.0.1:$PORT"
if vs_answers "$URL/moto-api/"; then
  vs_log "port $PORT already answers /moto-api/ but not from a server this script started; choose another MOTO_PORT"
  exit 1
fi
mkdir -p "$DIR"
DIR_ABS="$(cd "$DIR" && pwd)"
# setsid makes the server a process group of its own, so --stop ends everything it started.
# moto-server.py is moto_server with DynamoDB requests served one at a time (see its header).
setsid "$VENV/bin/python" scripts/moto-server.py 127.0.0.1 "$PORT" </dev/null >"$DIR_ABS/server.log" 2>&1 &
echo $! >"$PIDFILE"
echo "$URL" >"$URLFILE"

vs_started "$URL/moto-api/" 60 "$URL" "$DIR_ABS/server.log" "log in $DIR_ABS/server.log"
