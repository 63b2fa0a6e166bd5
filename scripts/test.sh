#!/usr/bin/env bash
# README's test command: everything the tests need that cargo does not fetch, then the tests.
#
#   - MLflow 3.x (pinned, in a venv; once) and a server on 127.0.0.1 for the tracking tests,
#     stopped again at the end (the tests that stop and restart MLflow start their own);
#   - Python with pinned pandas and pyarrow (in a venv; once) for the strategy-file tests;
#   - moto's AWS emulator (pinned, in a venv inside the project; once) on a free 127.0.0.1 port
#     for the AWS back-end tests (TRADAI_TEST_AWS_ENDPOINT, dummy credentials and region), also
#     stopped at the end;
#   - the linters of the deployment files (cfn-lint, hadolint, check-jsonschema with the
#     compose-spec schema; pinned, in a venv; once) for tradai-deploy's tests
#     (TRADAI_TEST_DEPLOY_LINT);
#   - `cargo test --workspace --locked --no-fail-fast` with any extra arguments passed through
#     (every failing test binary is reported, not only the first);
#   - the benchmarks built (not run: they are measured by hand, docs/BENCHMARKS.md);
#   - the dashboard's browser test (scripts/browser-test.sh: headless Chromium, playwright-core).
#
# Python venvs live in `.venv/` inside the project (ignored by git); the first run takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3-venv
fi
export MLFLOW_VENV="${MLFLOW_VENV:-$PWD/.venv/mlflow}"
scripts/mlflow-server.sh --install-only
TRADAI_TEST_MLFLOW_URI="$(scripts/mlflow-server.sh)"
export TRADAI_TEST_MLFLOW_URI
scripts/moto-server.sh --install-only
TRADAI_TEST_AWS_ENDPOINT="$(scripts/moto-server.sh)"
export TRADAI_TEST_AWS_ENDPOINT
# The emulator accepts any credentials; real ones from the environment must never reach it.
export AWS_ACCESS_KEY_ID=tradai-test AWS_SECRET_ACCESS_KEY=tradai-test AWS_REGION=us-east-1
trap 'scripts/mlflow-server.sh --stop >/dev/null 2>&1 || true; scripts/moto-server.sh --stop >/dev/null 2>&1 || true' EXIT
# The strategy-file tests and the store's interop test (it reads a stored file with pandas and
# pyarrow) use the pinned venv.
TRADAI_TEST_PYTHON="$(scripts/python-venv.sh)"
export TRADAI_TEST_PYTHON
TRADAI_TEST_DEPLOY_LINT="$(scripts/deploy-lint-venv.sh)"
export TRADAI_TEST_DEPLOY_LINT

cargo test --workspace --locked --no-fail-fast "$@"
# The benchmarks are run by hand (docs/BENCHMARKS.md), but they must keep compiling.
cargo test --workspace --locked --benches --no-run
# The dashboard in headless Chromium against a real `tradai up` (installs Chromium and the pinned
# playwright-core when missing; fails when a check fails).
scripts/browser-test.sh
