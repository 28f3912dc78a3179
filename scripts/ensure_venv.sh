# Sourced by run_local.sh and run_tests.sh: `ensure_venv EXTRAS` creates .venv
# when missing and installs the project with those extras whenever setup.py
# changed since the last install of the same extras.
ensure_venv() {
  local extras="$1"
  local python="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $($python --version 2>&1)" >&2
    "$python" -m venv .venv
  fi
  local digest
  digest="$(sha1sum setup.py | cut -c1-12)"
  local stamp=".venv/.installed-${digest}-${extras//,/-}"
  if [ ! -f "$stamp" ]; then
    echo "Installing the project into .venv (extras: $extras)" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
    .venv/bin/python -m pip install --quiet -e ".[$extras]" >&2
    find .venv -maxdepth 1 -name '.installed-*' ! -name ".installed-${digest}-*" -delete
    touch "$stamp"
  fi
}
