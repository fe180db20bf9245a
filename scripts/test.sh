#!/usr/bin/env bash
# The one test command (README, .ci/run): set up .venv if needed, then run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest -q "$@"
