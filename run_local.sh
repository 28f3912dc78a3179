#!/usr/bin/env bash
# One command, nothing installed by hand: creates .venv if needed, starts a
# local DynamoDB-compatible server, seeds a table with sample works, reindexes
# it on the DirectRunner, prints the summary and a sample search, and stops
# the server. Flags: --items N, --malformed-fraction F, --total-segments N,
# --page-size N, --out DIR, --query WORDS; any other flag goes to Beam
# (e.g. --direct_num_workers=2 --direct_running_mode=multi_processing).
set -euo pipefail
cd "$(dirname "$0")"
source ./scripts/ensure_venv.sh
ensure_venv "local"
exec .venv/bin/python -m pipeline.local.run "$@"
