"""Per-frame cost of the input path (capture) and of ControlNet in a render.

Capture (vj.input and the engine's input stage), on real H.264 files written here with PyAV:
- decode: `read_rgb` per frame (OpenCV decode + BGR→RGB) at 1280x720 and 640x480, and the
  conversion alone: cv2.cvtColor (what read_rgb does) against a numpy reversed-channel copy;
- camera: `LiveCamera` (the webcam code, reading a file as its device) on its thread, unpaced;
- slot: a `LatestFrame` put and latest (the hand-off between the capture and render threads);
- to device: `InputStage.picture` with a new picture each call: upload (pinned, non-blocking on
  CUDA) and the resize + centre crop to the render size on the device;
- age: a tiny-model render at the render size reading `LiveCamera` paced at the clip's 30 fps as a
  camera delivers: capture (the read starts) → the engine takes it from the slot → the frame that
  used it is published.
ControlNet: frames with and without one ControlNet unit (canny, depth, input) and the engine's own
stage times (`Frame.stage_ms`, synchronised per stage): the conditioning picture is in "prepare",
the ControlNet forward and the residual add are in "denoise"; then each part alone (canny, depth,
the ControlNet forward, the UNet with and without residuals). On the tiny model, and on sd-turbo's
full-size architecture (SD 2.1 UNet, a ControlNet made from it as SD 2.1's are, TAESD; random
weights, built from config: speed does not depend on them) at --full-size (default 256 on a CPU,
512 in fp16 on CUDA), 1 step.

    python benchmarks/input_controlnet.py [--parts capture controlnet full] [--smoke] [--device cuda]

Prints tables (median, p95, p99 ms; per second); asserts nothing. `--smoke`: small clips and
sizes, the narrow architecture instead of the full-size one, a few frames: a quick end-to-end run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a plain checkout (no pip install)

from vj.config import parse_preset  # noqa: E402
from vj.engine.clock import FixedClock  # noqa: E402
from vj.engine.input_stage import EngineInputs, InputStage  # noqa: E402
from vj.engine.loop import Engine, EngineSettings  # noqa: E402
from vj.frames import Frame  # noqa: E402
from vj.input.camera import LiveCamera, wait_for_frame  # noqa: E402
from vj.input.slot import LatestFrame  # noqa: E402
from vj.input.video import open_capture, read_rgb  # noqa: E402
from vj.store import ParamStore  # noqa: E402

PARTS = ("capture", "controlnet", "full")
CLIP_FPS = 30


class Table:
    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[tuple[str, str, list[float]]] = []

    def add(self, part: str, what: str, ms: Sequence[float]) -> None:
        self.rows.append((part, what, list(ms)))
        print(f"  {part}: {what}: median {percentile(ms, 50):.3f} ms", flush=True)

    def render(self) -> str:
        rule = "|" + "|".join("-" * w for w in (17, 78, 6, 11, 10, 10, 10)) + "|"
        lines = [self.title, "", f"| {'part':<15} | {'what':<76} | {'n':>4} | {'median ms':>9} | {'p95 ms':>8} "
                 f"| {'p99 ms':>8} | {'per s':>8} |", rule]
        for part, what, ms in self.rows:
            med = percentile(ms, 50)
            lines.append(f"| {part:<15} | {what:<76} | {len(ms):>4} | {med:>9.3f} | {percentile(ms, 95):>8.3f} "
                         f"| {percentile(ms, 99):>8.3f} | {1000 / med if med > 0 else float('inf'):>8.1f} |")
        return "\n".join(lines)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], repeats: int, device: torch.device, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    sync(device)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        out.append((time.perf_counter() - start) * 1000)
    return out


def store_for(size: int, video_mix: float = 0.0) -> ParamStore:
    preset = parse_preset(f"""
[render]
width = {size}
height = {size}
[[prompts.mix]]
text = "a tunnel of neon arches"
[params]
zoom = 1.02
strength = 0.5
steps = 1
guidance = 0.0
video_mix = {video_mix}
""", "input-controlnet-benchmark")
    return ParamStore(base=preset.params, prompts=preset.prompts.to_mix())


# ---------------------------------------------------------------------------------------------- capture
def write_h264(path: Path, width: int, height: int, frames: int) -> Path:
    """An H.264 clip (yuv420p) of a moving gradient with fine noise: content a decoder has to work for."""
    import av

    rng = np.random.default_rng(0)
    grain = rng.integers(0, 40, (height, width, 3), dtype=np.uint8)
    ramp = np.add.outer(np.arange(height) // 2, np.arange(width) // 2)  # int: wraps at the cast below
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=CLIP_FPS, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for k in range(frames):
            image = np.stack([ramp + 3 * k, ramp[::-1] + 5 * k, ramp[:, ::-1] - 2 * k], axis=-1)
            image = (image + np.roll(grain, 7 * k, axis=1)).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


class _PacedCapture:
    """A cv2.VideoCapture that, as a camera, delivers frame k no sooner than k / fps after opening,
    and stamps when each read began (the moment a camera's frame would be exposed)."""

    def __init__(self, capture: Any, fps: float | None, stamps: list[float]) -> None:
        self._capture, self._fps, self._stamps = capture, fps, stamps
        self._opened = time.perf_counter()
        self._k = 0

    def read(self) -> tuple[bool, Any]:
        if self._fps:
            wait = self._opened + self._k / self._fps - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        self._k += 1
        self._stamps.append(time.perf_counter())
        return self._capture.read()

    def release(self) -> None:
        self._capture.release()


class _StampedCamera:
    """`LiveCamera` on a file with capture stamps per picture (keyed by the array's identity)."""

    def __init__(self, path: Path, fps: float | None) -> None:
        self._read_starts: list[float] = []
        self.stamp_of: dict[int, float] = {}
        self.put_times: list[float] = []
        outer = self

        class Stamped(LiveCamera):
            def put(self, frame: np.ndarray) -> None:
                outer.stamp_of[id(frame)] = outer._read_starts[-1]
                outer.put_times.append(time.perf_counter())
                super().put(frame)

        self.camera = Stamped(str(path), retry_s=0.01,
                              opener=lambda device: _PacedCapture(open_capture(device), fps, self._read_starts))
        self.taken: dict[int, tuple[float, float]] = {}  # render frame → (capture stamp, taken from the slot)

    def frame_for(self, index: int, time_s: float) -> np.ndarray | None:  # vj.frames.InputFrames
        frame = self.camera.frame_for(index, time_s)
        if frame is not None:
            self.taken[index] = (self.stamp_of[id(frame)], time.perf_counter())
        return frame


def _opencv() -> Any:
    """cv2, or None with a SKIP line where OpenCV or PyAV (which writes the clips) is missing."""
    try:
        import av  # noqa: F401
        import cv2
    except ImportError as err:
        print(f"SKIP decode, camera and age rows: {err} (OpenCV and PyAV are the vj[headless] extra)", flush=True)
        return None
    return cv2


def capture_part(args: argparse.Namespace, device: torch.device, table: Table) -> None:
    cv2 = _opencv()
    folder = Path(tempfile.mkdtemp(prefix="vj-input-bench-"))
    clips = {}
    if cv2 is not None:
        for w, h in args.clip_sizes:
            clips[(w, h)] = write_h264(folder / f"clip_{w}x{h}.mp4", w, h, args.clip_frames)
        for (w, h), path in clips.items():
            capture = open_capture(str(path))
            times = []
            while True:
                start = time.perf_counter()
                frame = read_rgb(capture)
                if frame is None:
                    break
                times.append((time.perf_counter() - start) * 1000)
            capture.release()
            table.add("decode", f"read_rgb, H.264 {w}x{h} (decode + BGR→RGB by cvtColor)", times[1:])
            bgr = np.ascontiguousarray(frame_like(h, w)[:, :, ::-1])
            table.add("decode", f"  BGR→RGB as a numpy reversed-view copy (read_rgb before) {w}x{h}",
                      timed(partial(np.ascontiguousarray, bgr[:, :, 2::-1]), 200, torch.device("cpu")))
            table.add("decode", f"  BGR→RGB by cv2.cvtColor (read_rgb now) {w}x{h}",
                      timed(partial(cv2.cvtColor, bgr, cv2.COLOR_BGR2RGB), 200, torch.device("cpu")))
        for (w, h), path in clips.items():
            stamped = _StampedCamera(path, fps=None)
            stamped.camera.start()
            wait_for_frame(stamped.camera, 30.0)
            deadline = time.monotonic() + 60.0
            while len(stamped.put_times) < args.clip_frames - 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            stamped.camera.close()
            puts = stamped.put_times[: args.clip_frames - 1]
            table.add("camera thread", f"LiveCamera on the {w}x{h} file, unpaced: frame interval",
                      [(b - a) * 1000 for a, b in zip(puts, puts[1:], strict=False)])
    slot = LatestFrame()
    picture = frame_like(720, 1280)
    def hand_off() -> None:
        slot.put(picture)
        slot.latest()

    table.add("slot", "LatestFrame.put + latest (one hand-off)", timed(hand_off, 2000, torch.device("cpu")))
    for w, h in args.clip_sizes:
        frames = [frame_like(h, w, seed) for seed in range(4)]
        stage = InputStage(EngineInputs(frames=_Cycle(frames)), device)
        snap = store_for(args.size).snapshot(0, 0.0, 1 / 24)
        table.add("to device", f"InputStage.picture {w}x{h} → {args.size}² on {device.type} (upload + fit)",
                  timed(partial(stage.picture, snap, args.size, args.size), args.repeats, device))
        host = frame_like(h, w)
        table.add("to device", f"  of which the upload {w}x{h} (uint8 → float [0, 1], NCHW)",
                  timed(partial(stage._upload, host), args.repeats, device))
    if cv2 is not None:
        for (w, h), path in clips.items():
            engine_age(args, device, path, f"{w}x{h}", table)


class _Cycle:
    """Input frames that are a new picture every call (so every call uploads)."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self._frames = frames
        self._k = 0

    def frame_for(self, index: int, time_s: float) -> np.ndarray | None:
        self._k += 1
        return self._frames[self._k % len(self._frames)]


def frame_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


class _Published:
    def __init__(self) -> None:
        self.at: dict[int, float] = {}
        self.stage_ms: list[dict[str, float]] = []

    def offer(self, frame: Frame) -> None:
        self.at[frame.index] = time.perf_counter()
        self.stage_ms.append(dict(frame.stage_ms))


def engine_age(args: argparse.Namespace, device: torch.device, path: Path, label: str, table: Table) -> None:
    backend = tiny_backend(device)
    stamped = _StampedCamera(path, fps=CLIP_FPS)
    sink = _Published()
    store = store_for(args.size, video_mix=0.5)
    engine = Engine(backend, store, EngineSettings(args.size, args.size, 24, offline=True, pipelined=False), sink,
                    FixedClock(24), inputs=EngineInputs(frames=stamped))
    engine.prime(store.prompts())
    stamped.camera.start()
    wait_for_frame(stamped.camera, 30.0)
    for _ in range(3):
        engine.render_frame()
    stamped.taken.clear()
    sink.at.clear()
    frame_ms = []
    for _ in range(args.age_frames):
        start = time.perf_counter()
        engine.render_frame()
        frame_ms.append((time.perf_counter() - start) * 1000)
    stamped.camera.close()
    rows = [(stamp, taken, sink.at[i]) for i, (stamp, taken) in stamped.taken.items() if i in sink.at]
    table.add("age", f"tiny render {args.size}², camera {label} at {CLIP_FPS} fps: frame time", frame_ms)
    table.add("age", "  capture → taken from the slot by the engine", [(t - s) * 1000 for s, t, _ in rows])
    table.add("age", "  capture → the frame using it is published", [(p - s) * 1000 for s, _, p in rows])


# ---------------------------------------------------------------------------------------------- ControlNet
def tiny_backend(device: torch.device) -> Any:
    from vj.config import ModelConfig
    from vj.engine.backends.registry import load_backend

    return load_backend(ModelConfig(source="tiny", device=device.type))


def controlnet_rows(name: str, backend: Any, make_controlnet: Callable[[], Any], size: int, frames: int,
                    repeats: int, kinds: Sequence[str], table: Table, warmup: int = 2) -> None:
    """Frames with no ControlNet and with one unit of each kind, then the parts alone."""
    from vj.engine.controlnet import ControlNetResiduals, ControlNets, ControlUnit, canny_edges
    from vj.engine.depth import DepthEstimator, build_tiny_depth_model

    device = backend.device
    model = make_controlnet()
    picture = frame_like(size, size)
    depth = DepthEstimator(build_tiny_depth_model(device, backend.dtype), ema=0.0)
    base: dict[str, float] | None = None
    for kind in ("none", *kinds):
        controls = None
        if kind != "none":
            controls = ControlNets([ControlUnit(kind, 1.0, ControlNetResiduals(model))], device)
            controls.depth = depth
            backend.attach_controlnets(controls)
        else:
            backend.controls = None
        sink = _Published()
        store = store_for(size, video_mix=0.3)
        engine = Engine(backend, store, EngineSettings(size, size, 24, offline=True, profile_stages=True,
                                                       pipelined=False),
                        sink, FixedClock(24), inputs=EngineInputs(frames=_Still(picture)), controls=controls)
        engine.prime(store.prompts())
        ms = timed(engine.render_frame, frames, device, warmup)
        stages = sink.stage_ms[-frames:]
        mean = {s: sum(f.get(s, 0.0) for f in stages) / len(stages) for s in ("prepare", "denoise")}
        delta = "" if base is None else (f"; prepare +{mean['prepare'] - base['prepare']:.1f}, "
                                         f"denoise +{mean['denoise'] - base['denoise']:.1f} ms")
        base = base or mean
        table.add(f"{name} frame", f"{'no ControlNet' if kind == 'none' else kind + ' ControlNet'}"
                  f" (prepare {mean['prepare']:.1f}, denoise {mean['denoise']:.1f}{delta})", ms)
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
    from vj.engine.models.random_sd import SD_TURBO, SMOKE, build_random_components, build_random_pipeline

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
                      "(prepare/denoise: the engine's stage ms, frame means)", tiny_controlnet_part))
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
