#!/usr/bin/env bash
# The GPU check: one device call (timeout_s 600) that brings back trustworthy numbers.
#
#   here, where pip reaches a registry:  PYTHON=.venv/bin/python bash benchmarks/fetch_gpu_wheels.sh
#   the device call:                     run(command="bash benchmarks/gpu_check.sh", carry=[".gpu-wheels"],
#                                            timeout_s=600)
#   here, without a GPU:                 PYTHON=/path/to/python bash benchmarks/gpu_check.sh --dry-run
#
# 1. installs the wheels carried in .gpu-wheels/ (diffusers and what the machine lacks) with
#    --no-index --no-deps --target a folder put on PYTHONPATH: the machine's own venv (and its
#    torch) is never written to; HF_HUB_OFFLINE=1, so a stray hub call fails at once instead of hanging;
# 2. runs benchmarks/gpu_check.py: the parts of benchmarks/gpu_plan.py in order, each in its slice of
#    a 540 s budget (env and measured rates; the GPU path's imports and a tiny jit frame; gpu_loop.py
#    naive, eager and jit on sd-turbo's full size, jit keeping 300 s for itself; tests/gpu with the
#    compile cache warm; sdxl-turbo, input_controlnet, tuning and aot only in what is left);
# 3. leaves in $OUT exactly summary.txt, gpu_loop.json, gpu_loop.md and results.tar.gz (the device
#    returns at most 8 files); the summary is printed last, so it survives in the call's output too.
# --dry-run: everything above on the CPU at smoke sizes, the device budget shown as a simulated timeline.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-./gpu-results}
SITE=${GPU_CHECK_SITE:-/tmp/vj-gpu-site}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
# One compile cache for every part: tests/gpu reuses the graphs gpu_loop.py compiled.
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-/tmp/vj-inductor-cache}
export TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-/tmp/vj-triton-cache}

fail() {
    echo "gpu_check: FAIL $*" | tee "$OUT/summary.txt"
    exit 1
}

if [[ -d .gpu-wheels ]] && compgen -G ".gpu-wheels/*.whl" >/dev/null; then
    rm -rf "$SITE" && mkdir -p "$SITE"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .gpu-wheels/*.whl \
        || fail "installing .gpu-wheels into $SITE (pip's message above)"
    echo "gpu_check: installed into $SITE: $(cd .gpu-wheels && ls ./*.whl | tr '\n' ' ')"
elif ! "$PY" -c "import diffusers" 2>/dev/null; then
    fail "diffusers is missing and there is no .gpu-wheels/: run benchmarks/fetch_gpu_wheels.sh where pip works"
fi
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import diffusers, torch; print(f'gpu_check: diffusers {diffusers.__version__} from {diffusers.__file__}; torch {torch.__version__}')" \
    || fail "diffusers does not import with the carried wheels (a dependency the machine lacks?)"
exec "$PY" benchmarks/gpu_check.py --out "$OUT" "$@"
