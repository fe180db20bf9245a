#!/usr/bin/env bash
# Fill .gpu-wheels/ with the Python wheels the GPU test machine lacks. That machine has torch,
# transformers and diffusers' other needs but no diffusers and no package registry, so what is
# missing travels with the code (benchmarks/gpu_check.sh installs it with --no-index).
#
#   PYTHON=/path/to/venv/bin/python bash benchmarks/fetch_gpu_wheels.sh
#
# The versions are the ones installed in $PYTHON's environment, the ones the code was tested
# with here. The wheels are pure Python (py3-none-any), so they install on the machine's
# Python 3.12 whatever this machine runs (importlib_metadata needs lazy-importer on Python < 3.15).
# --no-deps: the machine already has every other
# requirement (filelock, huggingface-hub >= 1.32, numpy, regex, requests, safetensors >= 0.8,
# Pillow); zipp travels too (importlib_metadata needs it, and a bare Python 3.12 venv lacks it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEST=.gpu-wheels
WANTED=(diffusers importlib_metadata lazy-importer zipp)

pins=()
for name in "${WANTED[@]}"; do
    version=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name" 2>/dev/null) || {
        echo "fetch_gpu_wheels: $name is not installed in $PY's environment; set PYTHON to the project's venv python" >&2
        exit 2
    }
    pins+=("$name==$version")
done

rm -rf "$DEST"
mkdir -p "$DEST"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation py --abi none \
    --platform any -d "$DEST" "${pins[@]}"
size_kib=$(du -sk "$DEST" | cut -f1)
echo "fetch_gpu_wheels: ${pins[*]} → $DEST ($((size_kib / 1024)) MiB)"
if (( size_kib > 30 * 1024 )); then
    echo "fetch_gpu_wheels: $DEST is over 30 MiB; the device tool carries at most 64 MiB with the tree" >&2
    exit 1
fi
