#!/usr/bin/env bash
# Creates .venv and installs vj with its test extras. Idempotent: a second run is fast.
# torch is installed first and pinned to the CPU wheel unless a torch is already present
# or VJ_TORCH_SPEC says otherwise (e.g. VJ_TORCH_SPEC="torch --index-url <your CUDA index>"),
# because an unpinned `pip install torch` pulls several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=.venv/.vj-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
  exit 0
fi
"$VPY" -m pip install --quiet --upgrade pip
if ! "$VPY" -c "import torch" 2>/dev/null; then
  # shellcheck disable=SC2086
  "$VPY" -m pip install --quiet ${VJ_TORCH_SPEC:-torch==2.13.0}
fi
# opencv-python and opencv-python-headless share the cv2 module: an older .venv has the headless
# one, and installing the GUI one beside it leaves whichever wrote cv2 last. Keep only one.
if [[ ",${VJ_EXTRAS:-test}," =~ ,(test|dev|preview), ]] && "$VPY" -m pip show -q opencv-python-headless 2>/dev/null; then
  "$VPY" -m pip uninstall --quiet -y opencv-python-headless
fi
"$VPY" -m pip install --quiet -e ".[${VJ_EXTRAS:-test}]"
touch "$stamp"
