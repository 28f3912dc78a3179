#!/usr/bin/env bash
# Creates .venv if needed, installs the project with its test extras, and runs
# the whole test suite in two worker processes (TEST_WORKERS=N for another
# count, -n 0 for one process). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source ./scripts/ensure_venv.sh
ensure_venv "local,test"
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" "$@"
