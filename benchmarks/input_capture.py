"""Capture → render input, per frame: the shared table and timing helpers, and the capture half of
benchmarks/input_controlnet.py (which runs it; see its docstring for what each row measures).

Real H.264 files written here with PyAV, read through vj.input (`read_rgb`, `LiveCamera`, the
latest-frame slot) and brought to the render size by the engine's `InputStage` on the device.
"""

from __future__ import annotations

import argparse
import logging
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _presets import loop_preset  # noqa: E402
from _timing import percentile, synchronize  # noqa: E402

from vj.engine.clock import FixedClock  # noqa: E402
from vj.engine.input_stage import EngineInputs, InputStage  # noqa: E402
from vj.engine.loop import Engine, EngineSettings  # noqa: E402
from vj.frames import Frame  # noqa: E402
from vj.input.camera import LiveCamera, wait_for_frame  # noqa: E402
from vj.input.slot import LatestFrame  # noqa: E402
from vj.input.video import open_capture, read_rgb  # noqa: E402
from vj.store import ParamStore  # noqa: E402

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


def timed(fn: Callable[[], object], repeats: int, device: torch.device, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    synchronize(device)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        out.append((time.perf_counter() - start) * 1000)
    return out


def store_for(size: int, video_mix: float = 0.0) -> ParamStore:
    preset = loop_preset(size, 1, "input-controlnet-benchmark", guidance=0.0)
    return ParamStore(base={**preset.params, "video_mix": video_mix}, prompts=preset.prompts.to_mix())


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
        import av
        import cv2
    except ImportError as err:
        print(f"SKIP decode, camera and age rows: {err} (OpenCV and PyAV are the vj[headless] extra)", flush=True)
        return None
    if "libx264" not in av.codecs_available:
        print("SKIP decode, camera and age rows: this PyAV has no libx264 encoder to write the clips", flush=True)
        return None
    return cv2


def capture_part(args: argparse.Namespace, device: torch.device, table: Table) -> None:
    cv2 = _opencv()
    # A file ends where a camera would go on: LiveCamera's "stopped delivering, reopening" is the loop here.
    logging.getLogger("vj.input.camera").setLevel(logging.ERROR)
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


class Published:
    def __init__(self) -> None:
        self.at: dict[int, float] = {}
        self.stage_ms: list[dict[str, float]] = []

    def offer(self, frame: Frame) -> None:
        self.at[frame.index] = time.perf_counter()
        self.stage_ms.append(dict(frame.stage_ms))


def engine_age(args: argparse.Namespace, device: torch.device, path: Path, label: str, table: Table) -> None:
    backend = tiny_backend(device)
    stamped = _StampedCamera(path, fps=CLIP_FPS)
    sink = Published()
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


def tiny_backend(device: torch.device) -> Any:
    from vj.config import ModelConfig
    from vj.engine.backends.loaders import load_backend

    return load_backend(ModelConfig(source="tiny", device=device.type))
