"""Time the feedback loop: vj's engine against a naive diffusers loop, on the tiny model.

For each resolution and step count it renders a warm-up, then times frames of:
- the engine: snapshot → warp → colour → noise → encode → denoise → decode → publish,
  all on tensors, prompt embeddings cached;
- a naive loop: `StableDiffusionImg2ImgPipeline(prompt=..., image=PIL)` once per frame on
  the same tiny model, the feedback warped with PIL, PIL in and PIL out.
Both run the same number of UNet calls per frame (denoise 0.5: the pipeline gets 2× the
steps and strength 0.5). With --compile-sizes, the engine is also timed with its UNet and
VAE compiled in each of --compile-modes: "jit" (torch.compile; minutes per size on a CPU)
and "aot" (AOTInductor packages, built once into vj's cache and loaded on later runs); so
are the compiled model calls alone: their time is a floor no pixel-feedback loop on this
model gets under, so "ceiling" is the best speed-up over the naive loop any engine with
those calls could show here. Prints a Markdown table; nothing is asserted.

    .venv/bin/python benchmarks/loop.py [--sizes 64 128 256 512] [--steps 1 2] [--seconds 3]
                                        [--compile-sizes 64] [--compile-modes jit aot] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
from _presets import PROMPT, loop_preset
from PIL import Image

from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.clock import FixedClock
from vj.engine.families.models.tiny import build_tiny_pipeline
from vj.engine.loop import Engine, EngineSettings
from vj.frames import Frame
from vj.session import build_store

STAGES = ("prompt", "warp", "prepare", "encode", "denoise", "decode", "publish")


class _Discard:
    def offer(self, frame: Frame) -> None:
        pass


def _budget(seconds: float, frame_s: float, minimum: int = 5, maximum: int = 2000) -> int:
    return max(minimum, min(maximum, int(seconds / max(frame_s, 1e-3))))


def _seconds_per_call(call: Callable[[], None], seconds: float) -> float:
    """Mean seconds per call: three warm-up calls size the run, then about `seconds` of calls are timed."""
    start = time.perf_counter()
    for _ in range(3):
        call()
    frames = _budget(seconds, (time.perf_counter() - start) / 3)
    start = time.perf_counter()
    for _ in range(frames):
        call()
    return (time.perf_counter() - start) / frames


def tiny_backend(compile_mode: str = "off") -> DiffusersBackend:
    return DiffusersBackend(build_tiny_pipeline(), name="tiny", device=torch.device("cpu"), dtype=torch.float32,
                            compile_mode=compile_mode)


def time_engine(backend: DiffusersBackend, size: int, steps: int, seconds: float) -> tuple[float, dict[str, float]]:
    preset = loop_preset(size, steps, "benchmark")
    store = build_store(preset)
    engine = Engine(backend, store, EngineSettings(size, size, 24, offline=True), _Discard(), FixedClock(24))
    engine.prime(store.prompts())
    start = time.perf_counter()
    for _ in range(3):
        engine.render_frame()
    frames = _budget(seconds, (time.perf_counter() - start) / 3)
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    start = time.perf_counter()
    for _ in range(frames):
        frame = engine.render_frame()
        for stage in STAGES:
            per_stage[stage].append(frame.stage_ms.get(stage, 0.0))
    elapsed = time.perf_counter() - start
    return frames / elapsed, {s: statistics.fmean(v) for s, v in per_stage.items()}


def time_model_calls(backend: DiffusersBackend, size: int, steps: int, seconds: float) -> float:
    """Milliseconds a frame spends in the model calls alone (encode, `steps` UNet calls, decode):
    the floor under any loop that feeds pixels back through this model, however lean the rest."""
    image = torch.rand(1, 3, size, size)
    cond = backend.encode_prompt(PROMPT)

    def calls() -> None:
        latents = backend.encode_image(image)
        for step in range(steps):
            latents = backend.predict_noise(latents, 999 - 500 * step, cond)
        backend.decode(latents)

    return _seconds_per_call(calls, seconds) * 1000


def time_naive(size: int, steps: int, seconds: float) -> float:
    pipe = build_tiny_pipeline()
    pipe.set_progress_bar_config(disable=True)
    image = Image.new("RGB", (size, size), (128, 96, 160))
    generator = torch.Generator().manual_seed(0)

    def frame(img: Image.Image) -> Image.Image:
        # The usual script: warp with PIL, then one pipeline call with the prompt text.
        bilinear = Image.Resampling.BILINEAR
        zoomed = img.rotate(0.5, resample=bilinear).resize((int(size * 1.02),) * 2, bilinear)
        offset = (zoomed.width - size) // 2
        warped = zoomed.crop((offset, offset, offset + size, offset + size))
        return pipe(prompt=PROMPT, image=warped, strength=0.5, num_inference_steps=2 * steps, guidance_scale=0.0,
                    generator=generator).images[0]

    def feedback() -> None:
        nonlocal image
        image = frame(image)

    return 1.0 / _seconds_per_call(feedback, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per configuration and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of back-to-back timings per row")
    parser.add_argument("--compile-sizes", type=int, nargs="*", default=[],
                        help="sizes also timed with the model calls compiled")
    parser.add_argument("--compile-modes", nargs="+", choices=("jit", "aot"), default=["jit", "aot"],
                        help="how to compile: jit = torch.compile (minutes per size on a CPU), aot = AOTInductor "
                             "packages (about a minute per size the first time, then loaded from vj's cache)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, device cpu, tiny random SD (kl8 VAE), fp32\n")
    modes = args.compile_modes
    print(f"{args.rounds} rounds; each round times the naive loop, the engine and each compiled engine back to "
          "back, so a machine that speeds up or slows down affects both sides of a ratio alike. fps = median "
          "over rounds; speed-up = median of the per-round ratios (min-max).\n")
    header = ("| px | steps | naive fps | engine fps | speed-up | "
              + "".join(f"{m} fps | {m} speed-up | {m} model-only ms | {m} ceiling | " for m in modes)
              + " | ".join(f"{s} ms" for s in STAGES) + " |")
    print(header)
    print("|" + "---|" * (5 + 4 * len(modes) + len(STAGES)))
    eager = tiny_backend()
    for size in args.sizes:
        compiled = {m: tiny_backend(m) for m in modes} if size in args.compile_sizes else {}
        for backend in compiled.values():
            # Compile (or load the cached packages) before anything is timed; shapes do not depend on steps.
            time_engine(backend, size, args.steps[0], 0.0)
        for steps in args.steps:
            naive: list[float] = []
            engine: list[float] = []
            fast: dict[str, list[float]] = {m: [] for m in compiled}
            stage_runs: list[dict[str, float]] = []
            for _ in range(args.rounds):
                naive.append(time_naive(size, steps, args.seconds))
                fps, stages = time_engine(eager, size, steps, args.seconds)
                engine.append(fps)
                stage_runs.append(stages)
                for mode, backend in compiled.items():
                    fast[mode].append(time_engine(backend, size, steps, args.seconds)[0])
            compiled_cells = ""
            for mode in modes:
                if mode not in compiled:
                    compiled_cells += "- | - | - | - | "
                    continue
                model_ms = time_model_calls(compiled[mode], size, steps, args.seconds)
                # A loop that did nothing but the model calls would reach this speed-up and no more.
                compiled_cells += (f"{statistics.median(fast[mode]):.1f} | {_ratio(fast[mode], naive)} | "
                                   f"{model_ms:.1f} | {1000 / model_ms / statistics.median(naive):.1f}x | ")
            cells = " | ".join(f"{statistics.fmean(r[s] for r in stage_runs):.1f}" for s in STAGES)
            print(f"| {size} | {steps} | {statistics.median(naive):.1f} | {statistics.median(engine):.1f} | "
                  f"{_ratio(engine, naive)} | {compiled_cells}{cells} |", flush=True)


def _ratio(fast: list[float], slow: list[float]) -> str:
    ratios = [f / s for f, s in zip(fast, slow, strict=True)]
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}x"
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"

if __name__ == "__main__":
    main()
