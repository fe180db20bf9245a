"""Real video and image files for the input tests, written with PyAV (lossless FFV1) and Pillow."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image


def clip_colour(k: int) -> tuple[int, int, int]:
    """The solid colour of frame k of `write_clip`'s clips: every frame tells which it is."""
    return (k * 20 % 256, 255 - k * 20 % 256, 7)


def write_clip(path: Path, frames: int = 10, fps: int = 10, width: int = 32, height: int = 24) -> Path:
    """A lossless clip whose frame k is the solid colour `clip_colour(k)`."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "bgr0"
        for k in range(frames):
            image = np.empty((height, width, 3), np.uint8)
            image[:] = clip_colour(k)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_halves(path: Path, width: int = 96, height: int = 48) -> np.ndarray:
    """An image: left half red-ish, right half green-ish (so an aspect-keeping crop can be seen)."""
    image = np.empty((height, width, 3), np.uint8)
    image[:, : width // 2] = (200, 30, 40)
    image[:, width // 2:] = (10, 220, 90)
    Image.fromarray(image).save(path)
    return image
