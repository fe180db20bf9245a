"""Channels: what an output shows of each frame, the picture or its depth map.

`DepthChannel` wraps any output (preview, NDI, virtual camera) and hands it each frame's
depth map instead of the picture, as greyscale RGB (white = nearest), so a VJ mixer can key
or matte with it. The depth rides on the frame only when the session was asked to publish
it; a frame without one is not passed on, so the output holds its last depth frame.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

from vj.frames import Frame

CHANNELS = ("image", "depth")


class Output(Protocol):
    def start(self) -> None: ...
    def offer(self, frame: Frame) -> None: ...
    def close(self) -> None: ...
    def status(self) -> str: ...


def depth_frame(frame: Frame) -> Frame | None:
    """The frame with its depth map as the (greyscale RGB) picture; None without a depth map."""
    if frame.depth is None:
        return None
    grey = np.ascontiguousarray(np.repeat(frame.depth[..., None], 3, axis=2))
    return dataclasses.replace(frame, image=grey, in_betweens=())  # those are of the picture, not the depth


class DepthChannel:
    """An output fed the depth maps of the frames instead of the pictures."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.missing = 0  # frames that came without a depth map

    def start(self) -> None:
        self.output.start()

    def offer(self, frame: Frame) -> None:
        shown = depth_frame(frame)
        if shown is None:
            self.missing += 1
            return
        self.output.offer(shown)

    def close(self) -> None:
        self.output.close()

    def status(self) -> str:
        inner = self.output.status()
        return f"depth: {inner}" if inner else ""

    @property
    def dropped(self) -> int:
        return int(getattr(self.output, "dropped", 0))
