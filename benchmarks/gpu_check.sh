#!/usr/bin/env bash
# One prepared GPU check for a CUDA machine with no package registry (the H100/H200 test machine):
#   1. installs the wheels brought along in .gpu-wheels/ (diffusers and what it lacks there) with
#      --no-index, leaving the machine's torch as it is;
#   2. runs the GPU-marked tests (tests/gpu);
#   3. runs benchmarks/input_controlnet.py (capture → device, ControlNet per stage; at most
#      GPU_CHECK_INPUT_CN_S, default 75 s, leaving the loop at least 150 s;
#      on CUDA the full-size ControlNet first, so a cut run keeps that table);
#   4. runs benchmarks/gpu_loop.py (sd-turbo's full-size architecture, random weights, 512², 1 step);
#      its tuning pairs and aot do not start in the last GPU_CHECK_SDXL_S (default 120 s) of its time,
#      kept for part 5 (its naive, eager and jit modes are never cut for it);
#   5. runs gpu_loop.py --arch sdxl-turbo in what is left (eager and jit, 100 frames, no tuning, no aot;
#      skipped under 60 s), its tables in gpu_loop_sdxl.md.
# Every table and log goes to $OUT (else ./gpu-results); a short summary ends the output. Each part
# has its own timeout inside GPU_CHECK_BUDGET_S (default 420 s), so the tables come back even if
# a part hangs. Without CUDA it says so, skips the GPU parts and runs both benchmarks with --smoke.
#
#   bash benchmarks/fetch_gpu_wheels.sh      # here, with a registry: fills .gpu-wheels/
#   bash benchmarks/gpu_check.sh             # there
set -uo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
BUDGET=${GPU_CHECK_BUDGET_S:-420}
TESTS_S=${GPU_CHECK_TESTS_S:-180}
INPUT_CN_S=${GPU_CHECK_INPUT_CN_S:-75}
SDXL_S=${GPU_CHECK_SDXL_S:-120}
PY=${PYTHON:-python3}
OUT=${OUT:-./gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
LOG="$OUT/gpu_check.log"
: >"$LOG"

say() { echo "gpu_check: $*" | tee -a "$LOG"; }
left() { echo $((BUDGET - (SECONDS - START))); }

say "start $(date -u +%FT%TZ); budget ${BUDGET} s; results in $OUT"
"$PY" - <<'PY' 2>&1 | tee -a "$LOG"
import platform, torch
cuda = torch.cuda.is_available()
print(f"gpu_check: python {platform.python_version()}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"device: {torch.cuda.get_device_name(0) if cuda else 'none'}")
PY
HAS_CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))")
TORCH_BEFORE=$("$PY" -c "import torch; print(torch.__version__)")

# --- 1. wheels ---------------------------------------------------------------------------------
if "$PY" -c "import diffusers" 2>/dev/null; then
    say "diffusers $("$PY" -c 'import diffusers; print(diffusers.__version__)') already installed"
elif [[ -d .gpu-wheels ]]; then
    if ! "$PY" -m pip install -q --no-index --find-links .gpu-wheels diffusers 2>&1 | tee -a "$LOG"; then
        say "FAIL installing .gpu-wheels (pip's message above): a requirement the machine lacks is not in the folder"
        exit 1
    fi
    say "installed from .gpu-wheels: $(ls .gpu-wheels | tr '\n' ' ')"
else
    say "FAIL diffusers is missing and there is no .gpu-wheels/: run benchmarks/fetch_gpu_wheels.sh where pip works"
    exit 1
fi
TORCH_AFTER=$("$PY" -c "import torch; print(torch.__version__)")
if [[ "$TORCH_BEFORE" != "$TORCH_AFTER" ]]; then
    say "FAIL the install changed torch ($TORCH_BEFORE -> $TORCH_AFTER)"
    exit 1
fi

# --- 2. GPU-marked tests -----------------------------------------------------------------------
TESTS_RESULT="not run"
if [[ "$HAS_CUDA" == 1 ]]; then
    t=$(( $(left) / 2 < TESTS_S ? $(left) / 2 : TESTS_S ))
    say "GPU tests (tests/gpu), ${t} s at most"
    # SIGINT first: pytest then still prints what passed and failed so far.
    timeout -s INT -k 20 "$t" "$PY" -m pytest -q -p no:cacheprovider -rs tests/gpu -o timeout=0 \
        >"$OUT/gpu_tests.log" 2>&1
    rc=$?
    TESTS_RESULT="$(tail -n 1 "$OUT/gpu_tests.log") (exit $rc$([[ $rc == 124 || $rc == 130 ]] && echo ', cut by its timeout'))"
    say "GPU tests: $TESTS_RESULT"
else
    say "no CUDA device: the GPU tests and the full-size benchmarks are skipped; running gpu_loop.py --smoke instead"
fi

# --- 3. capture and ControlNet per stage -------------------------------------------------------
t=$(( $(left) - 150 < INPUT_CN_S ? $(left) - 150 : INPUT_CN_S ))
if (( t < 30 )); then
    say "SKIP input_controlnet.py: the loop benchmark keeps the last 150 s of the budget"
else
    args=(--parts full controlnet capture)
    [[ "$HAS_CUDA" == 1 ]] || args+=(--smoke)
    say "input_controlnet.py ${args[*]:-} (${t} s at most)"
    timeout -s INT -k 10 "$t" "$PY" benchmarks/input_controlnet.py "${args[@]}" --out "$OUT" \
        >"$OUT/input_controlnet.log" 2>&1
    rc=$?
    (( rc == 0 )) || say "input_controlnet.py exit $rc$([[ $rc == 124 || $rc == 130 ]] && echo ' (cut by its timeout; the parts it finished are in input_controlnet.md)')"
fi

# --- 4. the loop benchmark, sd-turbo ----------------------------------------------------------
t=$(( $(left) - 15 ))
if (( t < 60 )); then
    say "FAIL only ${t} s of the budget left: gpu_loop.py not run"
else
    args=()
    [[ "$HAS_CUDA" == 1 ]] || args+=(--smoke)
    extras=$((t - 60 - SDXL_S))
    say "gpu_loop.py ${args[*]:-} (${t} s at most; parts not started by $((t - 60)) s are skipped, tuning and aot" \
        "by ${extras} s: the last ${SDXL_S} s are kept for sdxl-turbo)"
    # The timeout stays the whole part's: a mode that started is never cut to make room for sdxl-turbo.
    timeout -s INT -k 20 "$t" "$PY" benchmarks/gpu_loop.py "${args[@]}" --out "$OUT" --budget-s $((t - 60)) \
        --extras-budget-s "$extras" >"$OUT/gpu_loop.log" 2>&1
    rc=$?
    (( rc == 0 )) || say "gpu_loop.py exit $rc$([[ $rc == 124 || $rc == 130 ]] && echo ' (cut by its timeout; the modes it finished are in gpu_loop.md)')"
fi

# --- 5. the loop benchmark, sdxl-turbo ---------------------------------------------------------
t=$(( $(left) - 15 ))  # as part 4's: never run when sd-turbo's loop was not
if (( t < 60 )); then
    say "SKIP gpu_loop.py --arch sdxl-turbo: only ${t} s of the budget left (GPU_CHECK_SDXL_S or GPU_CHECK_BUDGET_S give it more)"
else
    # Eager first (seconds), then jit (the full UNet's compile, the part the timeout may cut).
    if [[ "$HAS_CUDA" == 1 ]]; then args=(--modes eager jit --frames 100 --warmup 10); else args=(--smoke --modes eager); fi
    say "gpu_loop.py --arch sdxl-turbo ${args[*]} --no-tuning (${t} s at most; parts not started by $((t - 30)) s are skipped)"
    timeout -s INT -k 20 "$t" "$PY" benchmarks/gpu_loop.py --arch sdxl-turbo "${args[@]}" --no-tuning --out "$OUT" \
        --budget-s $((t - 30)) >"$OUT/gpu_loop_sdxl.log" 2>&1
    rc=$?
    (( rc == 0 )) || say "gpu_loop.py --arch sdxl-turbo exit $rc$([[ $rc == 124 || $rc == 130 ]] && echo ' (cut by its timeout; the modes it finished are in gpu_loop_sdxl.md)')"
fi

# --- summary -----------------------------------------------------------------------------------
{
    echo "== summary ($((SECONDS - START)) s) =="
    echo "tests: $TESTS_RESULT"
    for stem in gpu_loop gpu_loop_sdxl; do
        if [[ -f "$OUT/$stem.md" ]]; then
            grep -m 1 -E '^model: ' "$OUT/$stem.md"
            grep -E '^\| (mode|naive|eager|jit|aot)' "$OUT/$stem.md"
            grep -E '^(PASS|FAIL|SKIP|SKIPPED) ' "$OUT/$stem.md"
        elif [[ -f "$OUT/$stem.log" ]]; then
            echo "$stem.md was not written: see $stem.log"
            tail -n 20 "$OUT/$stem.log"
        else
            echo "$stem.md: not run (see above)"
        fi
    done
    if [[ -f "$OUT/input_controlnet.md" ]]; then
        grep -E '^\| (to device|age|tiny frame|full-size frame|narrow frame) ' "$OUT/input_controlnet.md"
    else
        echo "input_controlnet.md was not written: see input_controlnet.log"
    fi
} | tee "$OUT/summary.txt" | tee -a "$LOG"
