"""Per-frame cost of the input path (capture) and of ControlNet in a render.

Capture (vj.input and the engine's input stage; the code is in benchmarks/input_capture.py), on
real H.264 files written here with PyAV:
- decode: `read_rgb` per frame (OpenCV decode + BGR→RGB) at 1280x720 and 640x480, and the
  conversion alone: cv2.cvtColor (what read_rgb does) against a numpy reversed-channel copy;
- camera: `LiveCamera` (the webcam code, reading a file as its device) on its thread, unpaced;
- slot: a `LatestFrame` put and latest (the hand-off between the capture and render threads);
- to device: `InputStage.picture` with a new picture each call: upload (pinned, non-blocking on
  CUDA) and the resize + centre crop to the render size on the device;
- age: a tiny-model render at the render size reading `LiveCamera` paced at the clip's 30 fps as a
  camera delivers: capture (the read starts) → the engine takes it from the slot → the frame that
  used it is published.
ControlNet: frames with no ControlNet and with one unit (canny, depth, input), a frame of each in
turn, with the engine's own stage times (`Frame.stage_ms`, synchronised per stage; medians): the
conditioning picture is in "prepare", the ControlNet forward and the residual add in "denoise".
Then each part alone: canny, depth, the ControlNet forward, the UNet with and without residuals.
On the tiny model, and on sd-turbo's full-size architecture (SD 2.1 UNet, a ControlNet made from
it as SD 2.1's are, TAESD; random weights, built from config: speed does not depend on them) at
--full-size (default 256 on a CPU, 512 in fp16 on CUDA), 1 step.

    python benchmarks/input_controlnet.py [--parts capture controlnet full] [--smoke] [--device cuda]

Prints tables (median, p95, p99 ms; per second); asserts nothing. `--smoke`: small clips and
sizes, the narrow architecture instead of the full-size one, a few frames: a quick end-to-end run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a plain checkout (no pip install)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from input_capture import (  # noqa: E402
    Published,
    Table,
    capture_part,
    frame_like,
    percentile,
    store_for,
    synchronize,
    timed,
    tiny_backend,
)

from vj.engine.clock import FixedClock  # noqa: E402
from vj.engine.input_stage import EngineInputs  # noqa: E402
from vj.engine.loop import Engine, EngineSettings  # noqa: E402

PARTS = ("capture", "controlnet", "full")


# ---------------------------------------------------------------------------------------------- ControlNet
def controlnet_rows(name: str, backend: Any, make_controlnet: Callable[[], Any], size: int, frames: int,
                    repeats: int, kinds: Sequence[str], table: Table, warmup: int = 2) -> None:
    """Frames with no ControlNet and with one unit of each kind, then the parts alone."""
    from vj.engine.controlnet.units import ControlNetResiduals, ControlNets, ControlUnit, canny_edges
    from vj.engine.warp.depth_estimator import DepthEstimator, build_tiny_depth_model

    device = backend.device
    model = make_controlnet()
    picture = frame_like(size, size)
    depth = DepthEstimator(build_tiny_depth_model(device, backend.dtype), ema=0.0)
    runs: list[tuple[str, Any, Engine, Published, list[float]]] = []
    for kind in ("none", *kinds):
        controls = None
        if kind != "none":
            controls = ControlNets([ControlUnit(kind, 1.0, ControlNetResiduals(model))], device)
            controls.depth = depth
        sink = Published()
        store = store_for(size, video_mix=0.3)
        settings = EngineSettings(size, size, 24, offline=True, profile_stages=True, pipelined=False)
        engine = Engine(backend, store, settings, sink, FixedClock(24), inputs=EngineInputs(frames=_Still(picture)),
                        controls=controls)
        engine.prime(store.prompts())
        runs.append((kind, controls, engine, sink, []))
    # Round-robin, a frame of each in turn: a shared machine's load drifts, and it then weighs on all alike.
    for round_ in range(warmup + frames):
        for _, controls, engine, _sink, ms in runs:
            backend.controls = controls  # the engine's ControlNets are the ones attached to the backend
            start = time.perf_counter()
            engine.render_frame()
            synchronize(device)
            if round_ >= warmup:
                ms.append((time.perf_counter() - start) * 1000)
    base: dict[str, float] | None = None
    for kind, _, _, sink, ms in runs:
        stages = sink.stage_ms[-frames:]
        med = {s: percentile([f.get(s, 0.0) for f in stages], 50) for s in ("prepare", "denoise")}
        delta = "" if base is None else (f"; prepare {med['prepare'] - base['prepare']:+.1f}, "
                                         f"denoise {med['denoise'] - base['denoise']:+.1f} ms")
        base = base or med
        table.add(f"{name} frame", f"{'no ControlNet' if kind == 'none' else kind + ' ControlNet'}"
                  f" (prepare {med['prepare']:.1f}, denoise {med['denoise']:.1f}{delta})", ms)
    backend.controls = None
    with torch.inference_mode():
        image = torch.rand(1, 3, size, size, device=device)
        table.add(f"{name} parts", f"canny_edges {size}²", timed(lambda: canny_edges(image), repeats, device, warmup))
        table.add(f"{name} parts", f"depth nearness (tiny estimator) {size}²",
                  timed(lambda: depth.nearness(image), repeats, device, warmup))
        latent = size // backend.vae_scale_factor
        sample = torch.randn(1, backend.latent_channels, latent, latent, device=device, dtype=backend.dtype)
        cond = backend.encode_prompt("a tunnel of neon arches")
        context = cond.embeddings[:1].to(backend.dtype)
        t = torch.tensor(500, device=device)
        hint = image.to(backend.dtype)
        residuals = ControlNetResiduals(model)
        table.add(f"{name} parts", "ControlNet forward (residuals at scale 1)",
                  timed(lambda: residuals(sample, t, context, hint), repeats, device, warmup))
        outs = residuals(sample, t, context, hint)
        down, mid = tuple(o * 0.8 for o in outs[:-1]), outs[-1] * 0.8
        unet = backend.unet
        table.add(f"{name} parts", "UNet, no residuals",
                  timed(lambda: unet(sample, t, encoder_hidden_states=context), repeats, device, warmup))
        table.add(f"{name} parts", "UNet + residuals added (down blocks and mid)",
                  timed(lambda: unet(sample, t, encoder_hidden_states=context, down_block_additional_residuals=down,
                                     mid_block_additional_residual=mid), repeats, device, warmup))
        table.add(f"{name} parts", "residual scale and sum (scale × 13 tensors)",
                  timed(lambda: [o * 0.8 for o in outs], repeats, device, warmup))


class _Still:
    def __init__(self, picture: np.ndarray) -> None:
        self._picture = picture

    def frame_for(self, index: int, time_s: float) -> np.ndarray | None:
        return self._picture


def tiny_controlnet_part(args: argparse.Namespace, device: torch.device, table: Table) -> None:
    from vj.engine.backends.controlnet_load import build_tiny_controlnet

    backend = tiny_backend(device)

    def make() -> Any:
        return build_tiny_controlnet(backend.unet, backend.vae_scale_factor).to(device, backend.dtype).eval()

    controlnet_rows("tiny", backend, make, args.size, args.frames, args.repeats, ("canny", "depth", "input"), table)


def full_controlnet_part(args: argparse.Namespace, device: torch.device, table: Table) -> None:
    from diffusers import ControlNetModel

    from vj.engine.backends.diffusers import DiffusersBackend
    from vj.engine.families.models.random_sd import SD_TURBO, SMOKE, build_random_components, build_random_pipeline

    arch = SMOKE if args.smoke else SD_TURBO
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    components = build_random_components(arch, device, dtype)
    backend = DiffusersBackend(build_random_pipeline(components), name=f"{arch.name} (random weights)",
                               device=device, dtype=dtype, tiny_vae=components["taesd"])

    def make() -> Any:
        # SD 2.1 ControlNets are the UNet's encoder and mid block plus the picture embedding (diffusers' defaults).
        with torch.device(device):  # initialised where it runs: no CPU copy of 361 M parameters first
            return ControlNetModel.from_unet(backend.unet).to(dtype).eval()

    controlnet_rows("narrow" if args.smoke else "full-size", backend, make, args.full_size, args.full_frames,
                    args.full_repeats, ("canny",), table, warmup=2 if device.type == "cuda" else 1)


# ---------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="which, in this order (default: all)")
    parser.add_argument("--smoke", action="store_true", help="small clips and sizes, narrow architecture")
    parser.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    parser.add_argument("--size", type=int, default=None, help="render size for capture and tiny (512; smoke 64)")
    parser.add_argument("--full-size", type=int, default=None, help="full-size render (CPU 256, CUDA 512; smoke 64)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads on a CPU (default 1: on the shared 2-core VM two OpenMP "
                             "threads waiting on each other ran the small models up to 10x slower than one)")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables to OUT/input_controlnet.md")
    args = parser.parse_args(argv)
    args.device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = args.device.type == "cuda"
    args.size = args.size or (64 if args.smoke else 512)
    args.full_size = args.full_size or (64 if args.smoke else 512 if cuda else 256)
    args.clip_sizes = [(160, 120)] if args.smoke else [(1280, 720), (640, 480)]
    args.clip_frames = 20 if args.smoke else 120
    args.age_frames = 6 if args.smoke else (100 if cuda else 30)
    args.frames = 3 if args.smoke else (50 if cuda else 10)
    args.repeats = 5 if args.smoke else (50 if cuda else 20)
    args.full_frames = 2 if args.smoke else (20 if cuda else 5)
    args.full_repeats = 2 if args.smoke else (20 if cuda else 5)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device: torch.device = args.device
    if args.threads or device.type == "cpu":
        torch.set_num_threads(args.threads or 1)
    torch.set_grad_enabled(False)
    torch.manual_seed(0)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "no GPU"
    header = (f"machine: {platform.machine()}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}, "
              f"device {device.type}, {torch.get_num_threads()} torch threads{', SMOKE' if args.smoke else ''}")
    print(header, flush=True)
    tables: list[Table] = []
    started = time.monotonic()

    def write(final: bool) -> None:  # after every part: a run its timeout cuts keeps the tables it finished
        text = "\n\n".join([header, *(t.render() for t in tables if t.rows),
                             f"({time.monotonic() - started:.0f} s{'' if final else ', unfinished'})"])
        if final:
            print("\n" + text, flush=True)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "input_controlnet.md").write_text(text + "\n")

    parts: list[tuple[str, str, Callable[[argparse.Namespace, torch.device, Table], None]]] = []
    if "capture" in args.parts:
        parts.append(("capture", f"Capture → render input, render {args.size}², {device.type}", capture_part))
    if "controlnet" in args.parts:
        parts.append(("controlnet", f"ControlNet, tiny model, {args.size}², 1 step, {device.type} "
                      "(prepare/denoise: the engine's stage ms, medians)", tiny_controlnet_part))
    if "full" in args.parts:
        dtype = "fp16" if device.type == "cuda" else "fp32"
        parts.append(("full", f"ControlNet, {'narrow' if args.smoke else 'sd-turbo full-size'} architecture "
                      f"(random weights), {args.full_size}², 1 step, {device.type} {dtype}, TAESD, eager",
                      full_controlnet_part))
    parts.sort(key=lambda part: args.parts.index(part[0]))  # in the order asked for
    for name, title, run in parts:
        print(f"{name} ...", flush=True)
        tables.append(Table(title))
        run(args, device, tables[-1])
        write(final=False)
    write(final=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
