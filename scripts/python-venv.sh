#!/usr/bin/env bash
# A Python with pandas and pyarrow for running Freqtrade strategy files in the tests
# (`tradai backtest --strategy-path`): creates the venv once, pinned by
# scripts/python-requirements.txt, and prints its interpreter (only that, on stdout):
#
#   export TRADAI_TEST_PYTHON="$(scripts/python-venv.sh)"
#
# Idempotent: a venv stamped with the requirements' hash is not touched.
# Environment: TRADAI_PY_VENV (default .venv/py in the project, ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${TRADAI_PY_VENV:-$PWD/.venv/py}"
REQS="scripts/python-requirements.txt"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [ "$(cat "$VENV/.tradai-reqs" 2>/dev/null || true)" != "$want" ]; then
  echo "python-venv: installing $REQS into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS" >&2
  echo "$want" > "$VENV/.tradai-reqs"
fi
echo "$VENV/bin/python"
