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
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [ "$(cat "$VENV/.tradai-reqs" 2>/dev/null || true)" != "$want" ]; then
  echo "deploy-lint-venv: installing $REQS into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS" >&2
  echo "$want" > "$VENV/.tradai-reqs"
fi
echo "$VENV/bin"
