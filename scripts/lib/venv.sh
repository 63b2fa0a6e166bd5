# shellcheck shell=bash
# Installing a project virtualenv from a pinned requirements file, once: what every script
# that needs Python packages shares (scripts/python-venv.sh, scripts/deploy-lint-venv.sh, and
# the servers of scripts/lib/venv-server.sh). Sourced, not run.

# venv_install NAME VENV REQS EXE WHEN: installs REQS into VENV unless VENV holds the program EXE
# (bin/python, bin/mlflow) and is stamped with REQS' hash; NAME prefixes the log line (stderr),
# WHEN says how long the first install takes.
venv_install() {
  local name="$1" venv="$2" reqs="$3" exe="$4" when="$5" want
  want="$(sha256sum "$reqs" | cut -d' ' -f1)"
  if [ -x "$venv/$exe" ] && [ "$(cat "$venv/.tradai-stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "$name: installing $reqs into $venv ($when, once)" >&2
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs" >&2
  echo "$want" >"$venv/.tradai-stamp"
}
