"""Short videos with a known answer, written with PyAV: still, moving by a set shift, flickering."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import av
import cv2
import numpy as np

SIZE = 96


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB picture (blurred noise, stretched to the full range): flow can follow it."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), sigmaX=3.0)
    low, high = blurred.min(), blurred.max()
    return ((blurred - low) / (high - low) * 255.0).astype(np.uint8)


def write_video(path: Path, frames: Iterable[np.ndarray], fps: int = 24, ticks: list[int] | None = None) -> Path:
    """H.264 at near-lossless quality (crf 1, full-resolution colour), one frame at a time; `ticks`: each frame's
    pts in 1/fps (a live take's recorder leaves out the ticks it skipped), default 0, 1, 2, ..."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "1", "preset": "ultrafast"}
        for number, rgb in enumerate(frames):
            if number == 0:
                stream.width, stream.height = rgb.shape[1], rgb.shape[0]
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            picture.pts = number if ticks is None else ticks[number]
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def still(count: int) -> list[np.ndarray]:
    picture = texture(SIZE, SIZE)
    return [picture.copy() for _ in range(count)]


def moving(count: int, shift: int) -> list[np.ndarray]:
    """A window sliding right over a wide picture by `shift` pixels per frame: content moves left."""
    wide = texture(SIZE + shift * count, SIZE)
    return [wide[:, i * shift:i * shift + SIZE].copy() for i in range(count)]


def flickering(count: int, amplitude: float = 40.0) -> list[np.ndarray]:
    """The still picture with fresh random noise on every frame: what a boiling texture looks like."""
    rng = np.random.default_rng(1)
    picture = texture(SIZE, SIZE).astype(np.float32)
    return [np.clip(picture + rng.normal(0.0, amplitude, picture.shape), 0, 255).astype(np.uint8)
            for _ in range(count)]


def write_live_timeline(path: Path, video_name: str, output_ticks: list[float], first_tick: int,
                        last_tick: int) -> Path:
    """A live take's control timeline as `vj run --record` writes it: a header with `output_fps`, one frame line
    per engine frame with its output tick `ot`, and the end line with the video's first and last ticks."""
    header = {"type": "header", "version": 1, "preset": {}, "model": "tiny", "seed": 1, "width": SIZE,
              "height": SIZE, "fps": 24.0, "start_frame": 0, "state": {}, "video": video_name, "output_fps": 24.0}
    lines = [header]
    lines += [{"type": "frame", "i": i, "t": i / 8, "dt": 1 / 8, "h": "0", "ot": tick}
              for i, tick in enumerate(output_ticks)]
    lines.append({"type": "end", "frames": len(output_ticks), "reason": "stopped", "first_tick": first_tick,
                  "last_tick": last_tick})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path
