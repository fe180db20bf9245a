#!/usr/bin/env bash
# The main job on a machine without GPU or weights: set up .venv if needed, then run the
# live engine on the built-in tiny random model (chosen explicitly), recording a clip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/vj run zoom-tunnel --model tiny --width 256 --height 256 --duration "${VJ_DEMO_SECONDS:-20}" \
  --record "${VJ_DEMO_OUT:-demo.mkv}" "$@"
