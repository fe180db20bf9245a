"""The GPU check's plan: its parts in order, each one's slice of the budget, and what comes back.

Kept apart from benchmarks/gpu_check.py (which runs the parts) so the arithmetic and the rules on
the returned files are unit-tested where no GPU is (tests/unit/project/test_gpu_plan.py).

The device call: one command of at most CALL_LIMIT_S seconds, at most RETURNED_FILES files back.
The check keeps BUDGET_S for its parts, so a part cut at its slice (SIGINT, then SIGKILL after
GRACE_S) and the summary still end inside the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CALL_LIMIT_S = 600  # the device tool's limit on one command (timeout_s 600)
BUDGET_S = 540  # the check's own: the parts' slices come out of it
GRACE_S = 10  # a part past its slice gets SIGINT, then SIGKILL this much later
TAIL_S = 20  # kept after the last part for the summary, the tarball and the checks
START_S = 20  # before the budget's clock: the wheels' install and Python's first start-up
JIT_RESERVE_S = 300  # the jit mode's own seconds in the loop part, its compile included
NAIVE_EAGER_S = 120  # the loop part's naive and eager modes end by then (their frames are cut short)
RETURNED_FILES = ("summary.txt", "gpu_loop.json", "gpu_loop.md", "results.tar.gz")
MAX_RETURNED = 8  # the device tool brings back at most this many files


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    slice_s: int  # at most this long
    min_s: int  # not started with less than this left
    device_estimate_s: int  # expected on one H100 (est.: no GPU run exists yet)
    what: str


PARTS = (
    Part("env", 20, 10, 10, "versions, nvidia-smi, bf16 matmul TFLOP/s, device copy GB/s"),
    Part("smoke", 60, 30, 45, "GPU-path imports, full size on meta, tiny-model jit frames on CUDA"),
    Part("loop", NAIVE_EAGER_S + JIT_RESERVE_S + 20, NAIVE_EAGER_S + JIT_RESERVE_S, 240,
         "gpu_loop.py sd-turbo 512², 1 step, TAESD: naive, eager, jit (each timed twice)"),
    Part("tests", 240, 30, 200, "pytest tests/gpu (the loop's compile cache warm)"),
    Part("sdxl", 200, 60, 150, "gpu_loop.py --arch sdxl-turbo: eager, jit"),
    Part("controlnet", 75, 30, 60, "input_controlnet.py: capture → device, ControlNet per stage"),
    Part("extras", 150, 60, 120, "gpu_loop.py tuning pairs and aot"),
)


@dataclass(frozen=True, slots=True)
class Step:
    part: str
    start_s: float
    slice_s: float  # 0: skipped
    used_s: float  # its own seconds, plus the kill grace when its slice cut it

    @property
    def skipped(self) -> bool:
        return self.slice_s == 0


def slice_for(part: Part, elapsed_s: float, budget_s: int = BUDGET_S) -> float:
    """The part's slice when it starts `elapsed_s` into the budget (0: not started)."""
    room = budget_s - elapsed_s - TAIL_S
    return 0.0 if room < part.min_s else float(min(part.slice_s, room))


def simulate(durations: Mapping[str, float], budget_s: int = BUDGET_S) -> list[Step]:
    """The plan's timeline when each part would take `durations[name]` seconds (cut at its slice, then
    its kill grace: the next part's slice is reckoned from the clock, so only the last grace overruns)."""
    steps, elapsed = [], 0.0
    for part in PARTS:
        given = slice_for(part, elapsed, budget_s)
        wanted = float(durations.get(part.name, part.device_estimate_s))
        used = 0.0 if not given else wanted if wanted <= given else given + GRACE_S
        steps.append(Step(part.name, elapsed, given, used))
        elapsed += used
    return steps


def worst_case_call_s(steps: list[Step]) -> float:
    """The device call's length for this timeline: start-up, the parts (graces included), the summary."""
    return START_S + sum(s.used_s for s in steps) + TAIL_S


def timeline(steps: list[Step]) -> list[str]:
    """One line per part, then the totals and whether jit kept its slice and the call fits."""
    lines = []
    for s in steps:
        when = f"at {s.start_s:5.0f} s, slice {s.slice_s:4.0f} s, takes {s.used_s:4.0f} s"
        lines.append(f"  {s.part:<10} " + ("skipped (too little left)" if s.skipped else when))
    loop = next(s for s in steps if s.part == "loop")
    jit_s = loop.slice_s - NAIVE_EAGER_S if not loop.skipped else 0.0
    end = sum(s.used_s for s in steps)
    call = worst_case_call_s(steps)
    lines.append(f"  parts end at {end:.0f} s of the {BUDGET_S} s budget; jit keeps {jit_s:.0f} s "
                 f"(≥ {JIT_RESERVE_S}: {'yes' if jit_s >= JIT_RESERVE_S else 'NO'}); with start-up and summary "
                 f"the call takes {call:.0f} s of its {CALL_LIMIT_S} "
                 f"({'fits' if call <= CALL_LIMIT_S else 'DOES NOT FIT'})")
    return lines


def parse_durations(text: str) -> dict[str, float]:
    """"loop=440 tests=240" → {"loop": 440.0, "tests": 240.0}; a part not in the plan is an error."""
    names = {p.name for p in PARTS}
    found: dict[str, float] = {}
    for item in text.split():
        name, sep, value = item.partition("=")
        if not sep or name not in names:
            raise ValueError(f"simulated duration {item!r}: expected NAME=SECONDS with NAME one of {sorted(names)}")
        found[name] = float(value)
    return found


def returned_files_problems(names: list[str]) -> list[str]:
    """What is wrong with the files left in $OUT (nothing: an empty list)."""
    problems = []
    if len(names) > MAX_RETURNED:
        problems.append(f"{len(names)} files in $OUT, the device returns at most {MAX_RETURNED}")
    extra = sorted(set(names) - set(RETURNED_FILES))
    if extra:
        problems.append(f"files in $OUT outside the plan (they belong in results.tar.gz): {', '.join(extra)}")
    missing = [n for n in RETURNED_FILES if n not in names]
    if missing:
        problems.append(f"missing from $OUT: {', '.join(missing)}")
    return problems


MODE_FIELDS = ("mode", "frames", "fps", "fps_runs", "p50_ms", "p99_ms", "stage_ms", "peak_mib", "warmup_s",
               "delivered", "counters", "publish_waits", "host_wait_ms")
COUNTER_FIELDS = ("non_finite", "recompiles", "graph_breaks", "cudagraph_skips", "host_syncs")
REPORT_FIELDS = ("machine", "arch", "size", "steps", "gflop", "frame_gflop", "floor_ms", "measured_tflops",
                 "measured_floor_ms", "jit_vs_eager", "results", "checks", "skips")


def loop_json_problems(data: Mapping[str, object], modes: list[str]) -> list[str]:
    """The fields gpu_loop.json must have for `modes`; what is missing (nothing: an empty list)."""
    problems = [f"gpu_loop.json lacks {name!r}" for name in REPORT_FIELDS if name not in data]
    results = data.get("results")
    by_mode = {r.get("mode"): r for r in results if isinstance(r, dict)} if isinstance(results, list) else {}
    for mode in modes:
        result = by_mode.get(mode)
        if result is None:
            problems.append(f"gpu_loop.json has no {mode} result")
            continue
        problems += [f"gpu_loop.json {mode} lacks {name!r}" for name in MODE_FIELDS if name not in result]
        counters = result.get("counters")
        if mode != "naive":
            if not isinstance(counters, dict):
                problems.append(f"gpu_loop.json {mode} has no counters")
            else:
                problems += [f"gpu_loop.json {mode} counters lack {name!r}" for name in COUNTER_FIELDS
                             if name not in counters]
        if len(result.get("fps_runs") or []) < 2:
            problems.append(f"gpu_loop.json {mode} was not timed twice")
    check = data.get("jit_vs_eager")
    if "jit" in modes and not (isinstance(check, dict) and isinstance(check.get("rel_err"), (int, float))):
        problems.append("gpu_loop.json has no jit vs eager relative error")
    return problems
