# shellcheck shell=bash
# What the local test servers started from a project virtualenv share (scripts/moto-server.sh,
# scripts/mlflow-server.sh): installing the pinned requirements once, finding the server this
# script started, stopping its whole process group, waiting for it to answer, and the
# --stop / --install-only arguments. Sourced, not run.
#
# The sourcing script sets, before calling anything here:
#   SERVER_NAME   prefix of log lines (stderr)
#   VENV, REQS    the virtualenv and the requirements file it is installed from
#   VENV_EXE      a program the installed venv holds (bin/moto_server, bin/mlflow)
#   INSTALL_TIME  how long the first install takes, for the log ("a minute or two")
#   PIDFILE       where the started server's pid is kept
#   STATE_FILES   array of the files --stop removes (the pid file among them)

# shellcheck source=scripts/lib/venv.sh
. "$(dirname "${BASH_SOURCE[0]}")/venv.sh"

vs_log() { echo "$SERVER_NAME: $*" >&2; }

vs_answers() { # does the URL $1 answer 200 within 2 s?
  python3 - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

vs_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

vs_our_pid() { # the pid of the server this script started, if it is still alive
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

vs_stop() {
  local pid
  if pid="$(vs_our_pid)"; then
    # The server is its own process group (setsid): whatever it spawned goes too.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    vs_log "stopped (pid $pid)"
  else
    vs_log "not running"
  fi
  rm -f "${STATE_FILES[@]}"
}

vs_install() { # a venv stamped with the requirements' hash is not touched again
  venv_install "$SERVER_NAME" "$VENV" "$REQS" "$VENV_EXE" "$INSTALL_TIME"
}

vs_command() { # the script's one optional argument; returns only when a server is wanted
  case "${1:-}" in
    --stop) vs_stop; exit 0 ;;
    --install-only) vs_install; exit 0 ;;
    "") ;;
    *) vs_log "unknown argument '$1' (expected --stop or --install-only)"; exit 2 ;;
  esac
}

vs_wait() { # vs_wait URL SECONDS: until URL answers; fails at once when our server has died
  for _ in $(seq 1 $(($2 * 5))); do
    if vs_answers "$1"; then return 0; fi
    vs_our_pid >/dev/null || return 1
    sleep 0.2
  done
  return 1
}

vs_started() { # vs_started CHECK_URL SECONDS PRINTED LOGFILE WHERE: the end of a start
  if vs_wait "$1" "$2"; then
    vs_log "listening on $3 ($5)"
    echo "$3"
    exit 0
  fi
  vs_log "no answer from $1; last lines of $4:"
  tail -20 "$4" >&2
  vs_stop
  exit 1
}
