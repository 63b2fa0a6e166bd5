#!/usr/bin/env bash
# README's test command: everything the tests need that cargo does not fetch, then the tests.
#
#   - MLflow 3.x (pinned, in a venv; once) and a server on 127.0.0.1 for the tracking tests,
#     stopped again at the end (the tests that stop and restart MLflow start their own);
#   - Python with pinned pandas and pyarrow (in a venv; once) for the strategy-file tests;
#   - `cargo test --workspace --locked` with any extra arguments passed through.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3-venv
fi
scripts/mlflow-server.sh --install-only
# The store's interop test reads a stored file with pandas and pyarrow, which MLflow's venv has.
export TRADAI_TEST_PYTHON="${TRADAI_TEST_PYTHON:-${MLFLOW_VENV:-/opt/mlflow-venv}/bin/python}"
TRADAI_TEST_MLFLOW_URI="$(scripts/mlflow-server.sh)"
export TRADAI_TEST_MLFLOW_URI
trap 'scripts/mlflow-server.sh --stop >/dev/null 2>&1 || true' EXIT
TRADAI_TEST_PYTHON="$(scripts/python-venv.sh)"
export TRADAI_TEST_PYTHON

cargo test --workspace --locked "$@"
