#!/usr/bin/env bash
# Creates .venv and installs vj with its test extras. Idempotent: a second run is fast.
# The logic (torch wheel per platform, VJ_TORCH_SPEC, VJ_EXTRAS) is in scripts/bootstrap.py,
# which scripts/bootstrap.ps1 runs on Windows too; PYTHON picks the interpreter that makes the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" scripts/bootstrap.py
