#!/usr/bin/env bash
# The linters for the deployment files (cfn-lint, hadolint, check-jsonschema with the
# compose-spec schema), pinned by scripts/deploy-lint-requirements.txt: creates the venv once
# and prints its bin directory (only that, on stdout), which tradai-deploy's tests read:
#
#   export TRADAI_TEST_DEPLOY_LINT="$(scripts/deploy-lint-venv.sh)"
#
# Idempotent: a venv stamped with the requirements' hash is not touched.
# Environment: TRADAI_DEPLOY_LINT_VENV (default .venv/deploy-lint in the project, ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${TRADAI_DEPLOY_LINT_VENV:-$PWD/.venv/deploy-lint}"
REQS="scripts/deploy-lint-requirements.txt"
# shellcheck source=scripts/lib/venv.sh
. scripts/lib/venv.sh
venv_install deploy-lint-venv "$VENV" "$REQS" bin/cfn-lint "a minute or two"
echo "$VENV/bin"
