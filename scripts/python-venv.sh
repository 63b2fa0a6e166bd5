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
# shellcheck source=scripts/lib/venv.sh
. scripts/lib/venv.sh
venv_install python-venv "$VENV" "$REQS" bin/python "a minute"
echo "$VENV/bin/python"
