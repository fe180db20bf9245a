"""Time the feedback loop on a GPU with sd-turbo's or sdxl-turbo's full-size architecture (random weights).

One run, of one architecture (`--arch`, default sd-turbo), at 512² and 1 step by default, times:
- naive: diffusers' `AutoPipelineForImage2Image` called once a frame with the prompt text, its
  PIL output fed back as the next input (strength 0.5 with 2 steps: one UNet call, guidance 0,
  the full SD / SDXL VAE), as a user would write it;
- eager / jit / aot: vj's engine (warp, colour, noise, TAESD encode, UNet, TAESD decode,
  publish) with the model calls eager, under torch.compile (CUDA graphs) or AOTInductor;
- tuning: the backend's speed switches (cudnn.benchmark, channels-last, fused QKV) one at a
  time against eager without them.
Per mode: fps (each engine mode timed twice), p50/p99 frame time, the engine's own per-stage ms
(CUDA events on a GPU), peak GPU memory, the ratio to the arithmetic floor (counted UNet + TAESD
FLOP / the GPU's dense fp16 peak, and / the matmul rate measured on it with --measured-tflops),
and the counters of benchmarks/gpu_counters.py (non-finite frames, recompiles, graph breaks,
CUDA-graph skips, host syncs), each a FAIL line when not zero; jit is first checked against eager.
Target checks print as PASS/FAIL lines (the fps targets are sd-turbo's). Tables (Markdown)
and a JSON go to $OUT, else ./gpu-results (gpu_loop.* for sd-turbo, gpu_loop_sdxl.* for sdxl-turbo),
rewritten after every mode so a run cut short keeps what it measured.
Weights are random (speed does not depend on them), built on the device in fp16: nothing is
downloaded. `--smoke` runs the same code on the architecture's narrow version at 64² on the CPU.

    python benchmarks/gpu_loop.py [--arch sd-turbo|sdxl-turbo] [--size 512] [--steps 1]
                                  [--modes naive eager jit aot] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a plain checkout (no pip install)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _presets import PROMPT, loop_preset  # noqa: E402
from _timing import percentile, synchronize  # noqa: E402
from gpu_counters import dynamo_window, host_syncs_counted, relative_error  # noqa: E402
from gpu_report import PEAK_TFLOPS, ModeResult, Report, peak_tflops  # noqa: E402

from vj.engine.backends.base import BackendTuning  # noqa: E402
from vj.engine.backends.diffusers import DiffusersBackend  # noqa: E402
from vj.engine.clock import FixedClock  # noqa: E402
from vj.engine.families.models import random_sd, random_sdxl  # noqa: E402
from vj.engine.loop import Engine, EngineSettings  # noqa: E402
from vj.engine.warmup_plan import plan_variants  # noqa: E402
from vj.frames import Frame  # noqa: E402
from vj.store import ParamStore  # noqa: E402

MODES = ("naive", "eager", "jit", "aot")
SWITCHES = ("cudnn_benchmark", "channels_last", "fuse_qkv")


@dataclass(frozen=True, slots=True)
class Family:
    """One architecture's full-size and smoke widths, its builders, and where its tables go."""

    full: Any
    smoke: Any
    components: Callable[[Any, torch.device, torch.dtype], dict[str, Any]]
    pipeline: Callable[[dict[str, Any]], Any]
    gflop: Callable[[Any, int], dict[str, float]]
    stem: str  # results file name, without .md / .json


FAMILIES = {
    "sd-turbo": Family(random_sd.SD_TURBO, random_sd.SMOKE, random_sd.build_random_components,
                       random_sd.build_random_pipeline, random_sd.count_gflop, "gpu_loop"),
    "sdxl-turbo": Family(random_sdxl.SDXL_TURBO, random_sdxl.SDXL_SMOKE, random_sdxl.build_random_xl_components,
                         random_sdxl.build_random_xl_pipeline, random_sdxl.count_xl_gflop, "gpu_loop_sdxl"),
}


class _StageSink:
    """Keeps each published frame's stage times (the engine's own: CUDA events on a GPU)."""

    def __init__(self) -> None:
        self.stage_ms: list[dict[str, float]] = []

    def offer(self, frame: Frame) -> None:
        self.stage_ms.append(dict(frame.stage_ms))

    def mean_ms(self) -> dict[str, float]:
        names = {name for stages in self.stage_ms for name in stages}
        return {name: sum(s.get(name, 0.0) for s in self.stage_ms) / max(len(self.stage_ms), 1) for name in names}


def _store(size: int, steps: int, guidance: float = 0.0) -> ParamStore:
    preset = loop_preset(size, steps, "gpu-benchmark", guidance)
    return ParamStore(base=preset.params, prompts=preset.prompts.to_mix())


def make_backend(family: Family, components: dict[str, Any], device: torch.device, dtype: torch.dtype, mode: str,
                 cache_dir: Path, tuning: BackendTuning | None = None) -> DiffusersBackend:
    return DiffusersBackend(family.pipeline(components), name=f"{family.full.name} architecture (random weights)",
                            device=device, dtype=dtype, tiny_vae=components["taesd"],
                            compile_mode="off" if mode == "eager" else mode, cache_dir=cache_dir, tuning=tuning)


def _engine(backend: DiffusersBackend, size: int, steps: int, sink: Any) -> tuple[Engine, ParamStore]:
    store = _store(size, steps)
    engine = Engine(backend, store, EngineSettings(size, size, 24, offline=True), sink, FixedClock(24))
    return engine, store


class _WaitClock:
    """Host time spent in the publisher's finish (the wait on a frame's copy out, then its pixels)."""

    def __init__(self, engine: Engine) -> None:
        self.total_s = 0.0
        self.calls = 0
        finish = engine._publisher._finish

        def timed(slot: Any) -> Any:
            begun = time.perf_counter()
            try:
                return finish(slot)
            finally:
                self.total_s += time.perf_counter() - begun
                self.calls += 1

        engine._publisher._finish = timed  # type: ignore[method-assign]

    def mean_ms(self) -> float:
        return self.total_s / max(self.calls, 1) * 1000


def time_engine(mode: str, backend: DiffusersBackend, size: int, steps: int, warmup: int, frames: int,
                runs: int = 2, sync_frames: int | None = None, deadline: float | None = None) -> ModeResult:
    """Warm up, time `runs` windows of `frames` frames each, then count host syncs in a pass of their own.

    Past `deadline` (time.monotonic()) a timed run stops early, with the frames it has.
    """
    device = backend.device
    sink = _StageSink()
    settings_cfg = EngineSettings(size, size, 24, offline=True).cfg
    with dynamo_window() as life:
        engine, store = _engine(backend, size, steps, sink)
        start = time.perf_counter()
        # As a show starts: every shape compiled (jit) or built (aot) before frame 0, then a few frames.
        backend.warmup(plan_variants([(size, size)], [steps], cfg=settings_cfg,
                                     embeds_guidance=backend.embeds_guidance))
        engine.prime(store.prompts())
        for _ in range(warmup):
            engine.render_frame()
        engine.flush()
        synchronize(device)
        warmup_s = time.perf_counter() - start
        sink.stage_ms.clear()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        waits = _WaitClock(engine)
        before = (engine.stats.frames, engine.stats.non_finite)
        intervals: list[float] = []
        fps_runs: list[float] = []
        with dynamo_window() as timed:
            for _ in range(runs):
                run_intervals: list[float] = []
                start = last = time.perf_counter()
                for _ in range(frames):
                    engine.render_frame()
                    now = time.perf_counter()
                    run_intervals.append(now - last)
                    last = now
                    if deadline is not None and time.monotonic() > deadline:
                        break
                engine.flush()  # pipelined on a GPU: the last frame is still in flight
                synchronize(device)
                fps_runs.append(len(run_intervals) / (time.perf_counter() - start))
                intervals += run_intervals
        delivered = engine.stats.frames - before[0]
        non_finite = engine.stats.non_finite - before[1]
        host_wait_ms = waits.mean_ms()
        # The sync pass apart: the debug mode's own checks would slow the timed frames.
        with host_syncs_counted(device, lambda: [slot.host for slot in engine._publisher._slots]) as syncs:
            for _ in range(sync_frames if sync_frames is not None else min(frames, 30)):
                engine.render_frame()
            engine.flush()
        synchronize(device)
    counters = {"non_finite": non_finite, "recompiles": timed.recompiles, "graph_breaks": life.graph_breaks,
                "cudagraph_skips": life.cudagraph_skips, "host_syncs": syncs.host_syncs}
    return ModeResult(mode=mode, frames=len(intervals), fps=min(fps_runs), p50_ms=percentile(intervals, 50) * 1000,
                      p99_ms=percentile(intervals, 99) * 1000, stage_ms=sink.mean_ms(),
                      peak_mib=_peak_mib(device), warmup_s=warmup_s, fps_runs=fps_runs, delivered=delivered,
                      counters=counters, publish_waits=syncs.publish_waits, host_wait_ms=host_wait_ms,
                      sync_where=syncs.where[:5])


def last_image(backend: DiffusersBackend, size: int, steps: int, frames: int = 2) -> torch.Tensor:
    """The image the engine's `frames`-th frame made (text to image, then img2img), owned by the caller."""
    engine, store = _engine(backend, size, steps, _StageSink())
    engine.prime(store.prompts())
    for _ in range(frames):
        engine.render_frame()
    engine.flush()
    assert engine._turbo_next is not None
    return engine._turbo_next.detach().clone()


def jit_vs_eager(jit_backend: DiffusersBackend, eager_backend: DiffusersBackend, size: int, steps: int) -> float:
    """Relative error of one compiled frame against one eager frame (same weights, seed and parameters)."""
    cfg = EngineSettings(size, size, 24, offline=True).cfg
    jit_backend.warmup(plan_variants([(size, size)], [steps], cfg=cfg, embeds_guidance=jit_backend.embeds_guidance))
    return relative_error(last_image(jit_backend, size, steps), last_image(eager_backend, size, steps))


def time_naive(family: Family, components: dict[str, Any], device: torch.device, size: int, steps: int,
               warmup: int, frames: int, deadline: float | None = None, runs: int = 2) -> ModeResult:
    from diffusers import AutoPipelineForImage2Image
    from PIL import Image

    # SD: StableDiffusionImg2ImgPipeline; SDXL: StableDiffusionXLImg2ImgPipeline (its VAE in float32, as
    # force_upcast asks: what a user's sdxl-turbo loop runs).
    pipe = AutoPipelineForImage2Image.from_pipe(family.pipeline(components))
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator(device).manual_seed(0)
    image = Image.new("RGB", (size, size), (128, 96, 160))

    def frame() -> None:
        nonlocal image
        # strength 0.5 of 2 steps: one UNet call, as the engine's denoise 0.5 at 1 step.
        image = pipe(prompt=PROMPT, image=image, strength=0.5, num_inference_steps=2 * steps, guidance_scale=0.0,
                     generator=generator).images[0]

    start = time.perf_counter()
    for _ in range(warmup):
        frame()
    warmup_s = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    intervals: list[float] = []
    fps_runs: list[float] = []
    for _ in range(runs):
        run_intervals: list[float] = []
        start = last = time.perf_counter()
        for _ in range(frames):
            frame()  # PIL out: the pipeline has waited for the GPU, each interval is a whole frame
            now = time.perf_counter()
            run_intervals.append(now - last)
            last = now
            if deadline is not None and time.monotonic() > deadline:
                break
        fps_runs.append(len(run_intervals) / (time.perf_counter() - start))
        intervals += run_intervals
    done = len(intervals)
    return ModeResult(mode="naive", frames=done, fps=min(fps_runs), p50_ms=percentile(intervals, 50) * 1000,
                      p99_ms=percentile(intervals, 99) * 1000, stage_ms={}, peak_mib=_peak_mib(device),
                      warmup_s=warmup_s, fps_runs=fps_runs, delivered=done)


def _peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _time_mode(mode: str, components: dict[str, Any], args: argparse.Namespace, dtype: torch.dtype,
               cache_dir: Path, report: Report, deadline: float | None = None) -> ModeResult:
    print(f"timing {mode} ...", flush=True)
    device: torch.device = args.device
    if mode == "naive":
        return time_naive(args.family, components, device, args.size, args.steps, min(args.warmup, 3),
                          args.naive_frames, deadline, args.runs)
    backend = make_backend(args.family, components, device, dtype, mode, cache_dir)
    if mode == "jit":  # correctness before speed: the compiled frame against the eager one
        eager = make_backend(args.family, components, device, dtype, "eager", cache_dir)
        report.set_jit_vs_eager(jit_vs_eager(backend, eager, args.size, args.steps))
        print(report.target_checks()[0], flush=True)
        del eager
    result = time_engine(mode, backend, args.size, args.steps, args.warmup, args.frames, runs=args.runs,
                         deadline=deadline)
    del backend
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=FAMILIES, default="sd-turbo", help="the architecture (default sd-turbo)")
    parser.add_argument("--smoke", action="store_true",
                        help="the architecture's narrow version, 64², few frames, on the CPU unless --device says "
                             "otherwise")
    parser.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    parser.add_argument("--size", type=int, default=None, help="square frame size (default 512; smoke 64)")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=None,
                        help="default: all four (smoke: naive eager; compiling takes minutes on a CPU)")
    parser.add_argument("--frames", type=int, default=None, help="timed frames per engine mode (default 300)")
    parser.add_argument("--naive-frames", type=int, default=None, help="timed frames of the naive loop (default 40)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up frames per mode (default 20)")
    parser.add_argument("--runs", type=int, default=2, help="timed runs per engine mode (default 2: the spread)")
    parser.add_argument("--measured-tflops", type=float, default=None,
                        help="the bf16 matmul rate measured on this GPU (gpu_check.sh's): a second floor")
    parser.add_argument("--jit-reserve-s", type=float, default=0.0,
                        help="naive and eager do not start when fewer than this many seconds of --budget-s would "
                             "be left for jit (its compile included)")
    parser.add_argument("--no-tuning", action="store_true", help="skip the speed-switch measurements")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help=f"dense fp16 peak for the floor (default: by GPU name; known: {', '.join(PEAK_TFLOPS)})")
    parser.add_argument("--budget-s", type=float, default=float(os.environ.get("GPU_LOOP_BUDGET_S", "0")) or None,
                        help="skip parts not started within this many seconds of the start (the tables so far stay)")
    parser.add_argument("--extras-budget-s", type=float, default=None,
                        help="skip the tuning pairs and aot (the parts after naive, eager and jit) when not started "
                             "within this many seconds (default: --budget-s); gpu_check.sh keeps time for "
                             "sdxl-turbo this way without touching sd-turbo's modes")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads on a CPU (smoke default 1: on a shared, loaded CPU two "
                             "OpenMP threads waiting on each other ran the smoke model 40x slower than one)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default $OUT, else ./gpu-results)")
    parser.add_argument("--stem", default=None,
                        help="results file name without .md/.json (default gpu_loop, gpu_loop_sdxl for sdxl-turbo)")
    args = parser.parse_args(argv)
    smoke = args.smoke
    args.family = FAMILIES[args.arch]
    args.architecture = args.family.smoke if smoke else args.family.full
    args.device = torch.device(args.device or ("cpu" if smoke or not torch.cuda.is_available() else "cuda"))
    if args.device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device cuda: CUDA is not available to torch {torch.__version__}")
    args.size = args.size or (64 if smoke else 512)
    args.modes = args.modes or (["naive", "eager"] if smoke else list(MODES))
    args.frames = args.frames or (8 if smoke else 300)
    args.naive_frames = args.naive_frames or (3 if smoke else 40)
    args.warmup = args.warmup or (2 if smoke else 20)
    args.out = args.out or Path(os.environ.get("OUT") or "gpu-results")
    if args.extras_budget_s is None:
        args.extras_budget_s = args.budget_s
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    begun = time.monotonic()
    torch.set_grad_enabled(False)
    device: torch.device = args.device
    if args.threads or (args.smoke and device.type == "cpu"):
        torch.set_num_threads(args.threads or 1)
    dtype = torch.float16 if device.type == "cuda" else torch.float32  # fp16 convolutions crawl on a CPU
    family: Family = args.family
    arch = args.architecture
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    peak, peak_source = peak_tflops(gpu if device.type == "cuda" else "", args.peak_tflops)
    report = Report(out=args.out, stem=args.stem or family.stem, fps_targets=family is FAMILIES["sd-turbo"],
                    smoke=args.smoke, arch=arch.name, size=args.size, steps=args.steps,
                    machine=f"{gpu}, torch {torch.__version__}, {device.type}, {str(dtype).removeprefix('torch.')}"
                    + (f", {torch.get_num_threads()} torch thread(s)" if device.type == "cpu" else ""),
                    peak_tflops=peak, peak_source=peak_source, gflop=family.gflop(arch, args.size),
                    measured_tflops=args.measured_tflops)
    print(report.header(), flush=True)
    cache_dir = Path(tempfile.mkdtemp(prefix="vj-gpu-aot-"))

    def in_budget(part: str, budget_s: float | None = args.budget_s, which: str = "--budget-s") -> bool:
        if budget_s is None or time.monotonic() - begun < budget_s:
            return True
        report.skipped(part, f"not started within {which} ({budget_s:.0f} s)")
        return False

    components = family.components(arch, device, dtype)
    # AOT last: its first build of the full UNet takes minutes, the part a time budget most likely cuts.
    reserve = args.jit_reserve_s if "jit" in args.modes else 0.0
    for mode in [m for m in args.modes if m != "aot"]:
        # naive and eager end by (budget − jit's reserve): jit keeps its slice, the compile included.
        before_jit = args.budget_s is not None and reserve > 0 and mode in ("naive", "eager")
        budget = args.budget_s - reserve if before_jit else args.budget_s
        if in_budget(mode, budget, "--budget-s less --jit-reserve-s" if before_jit else "--budget-s"):
            deadline = begun + budget if before_jit and budget is not None else None
            report.add(_time_mode(mode, components, args, dtype, cache_dir, report, deadline))
    if not args.no_tuning:
        for switch in SWITCHES:
            if not in_budget(f"tuning {switch}", args.extras_budget_s, "--extras-budget-s"):
                continue
            print(f"timing eager with and without {switch} ...", flush=True)
            pair = []
            for on in (False, True):  # fresh modules for each: two of the switches change them in place
                tuned = family.components(arch, device, dtype)
                backend = make_backend(family, tuned, device, dtype, "eager", cache_dir,
                                       BackendTuning(**{switch: on}))
                pair.append(time_engine(f"eager, {switch} {'on' if on else 'off'}", backend, args.size, args.steps,
                                        args.warmup, args.frames))
                del backend, tuned
            torch.backends.cudnn.benchmark = False  # the switch is process-wide: off again for the next pair
            report.add_tuning(switch, pair[0], pair[1])
    if "aot" in args.modes and in_budget("aot", args.extras_budget_s, "--extras-budget-s"):
        report.add(_time_mode("aot", components, args, dtype, cache_dir, report))
    print(report.finish(elapsed_s=time.monotonic() - begun), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
