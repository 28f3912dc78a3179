# Sourced by run_local.sh and run_tests.sh: ensure_venv EXTRAS creates .venv
# when missing and (re)installs the project whenever setup.py changed.
ensure_venv() {
  local extras="$1"
  local python="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $($python --version 2>&1)" >&2
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-$(cat setup.py | sha1sum | cut -c1-12)-${extras//,/-}"
  if [ ! -f "$stamp" ]; then
    echo "Installing the project into .venv (extras: $extras)" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
    .venv/bin/python -m pip install --quiet -e ".[$extras]" >&2
    rm -f .venv/.installed-* && touch "$stamp"
  fi
}
