"""Blending between the two latest frames on each output tick: smooth motion at 60 Hz from a 25-40 fps engine.

A paced output (vj.output.pacing) ticks at the display's rate. With `repeat` it sends the newest
frame and holds it until the next one: at 30 fps into 60 Hz each picture shows for two ticks, at
40 fps for one or two, unevenly, which reads as judder on a pan or a zoom. `BlendingMailbox`
replaces the output's one-frame mailbox: at each tick it shows the newest frame faded in over
the one before, by how far the tick is into the engine's frame interval (a running average of
the gaps between frames), so every tick moves the picture a little. The price is one engine
frame of latency: a frame shows fully one interval after it arrives.

Where the blend runs: each engine frame leaves the device once (vj.engine.publish), so the two
frames a tick blends are already on the host; blending them there costs no bus traffic, where a
blend on the device would copy every output tick out (twice the bytes at 30 fps into 60 Hz).
`blend_pictures` is torch on whichever device its tensors live, `blend_images` the same sums in
numpy for the host (the benchmark measures the costs, benchmarks/RESULTS.md). Fixed point, 7 bits of weight: int16
holds 255 x 128 without overflow, and 1/128 steps are below a grey level of difference.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import torch

from vj.frames import Frame
from vj.output.pacing import LatestFrame

WEIGHT_ONE = 128  # alpha 1.0 in fixed point
INTERVAL_SMOOTHING = 0.2  # how fast the running frame interval follows a change of engine rate
MAX_INTERVAL_S = 1.0  # a gap longer than this (a freeze, a preset load) is not an engine rate


def blend_weight(alpha: float) -> int:
    """alpha in [0, 1] as a weight 0..WEIGHT_ONE."""
    return int(round(min(max(alpha, 0.0), 1.0) * WEIGHT_ONE))


def blend_pictures(older: torch.Tensor, newer: torch.Tensor, weight: int, out: torch.Tensor | None = None
                   ) -> torch.Tensor:
    """uint8 pictures (any shape, one device): (older·(128-w) + newer·w + 64) / 128, rounded, as uint8."""
    if older.shape != newer.shape:
        raise ValueError(f"cannot blend pictures of shapes {tuple(older.shape)} and {tuple(newer.shape)}")
    if weight <= 0:
        return older
    if weight >= WEIGHT_ONE:
        return newer
    mixed = older.to(torch.int16).mul_(WEIGHT_ONE - weight)
    mixed.add_(newer.to(torch.int16).mul_(weight)).add_(WEIGHT_ONE // 2).bitwise_right_shift_(7)
    if out is None:
        return mixed.to(torch.uint8)
    return out.copy_(mixed)


def blend_images(older: np.ndarray, newer: np.ndarray, weight: int) -> np.ndarray:
    """`blend_pictures` on host arrays, the same sums in numpy (several times faster than torch's int16 on a CPU:
    benchmarks/output_rate.py)."""
    if older.shape != newer.shape:
        raise ValueError(f"cannot blend pictures of shapes {older.shape} and {newer.shape}")
    if weight <= 0:
        return older
    if weight >= WEIGHT_ONE:
        return newer
    mixed = older.astype(np.uint16)
    mixed *= WEIGHT_ONE - weight
    part = newer.astype(np.uint16)
    part *= weight
    mixed += part
    mixed += WEIGHT_ONE // 2
    mixed >>= 7
    return mixed.astype(np.uint8)


class BlendingMailbox(LatestFrame):
    """An output's mailbox that answers each tick with the newest frame blended over the one before.

    `put` keeps the two latest frames and when the newest arrived; `take` (on the output's tick)
    returns a new frame whose picture is the blend at that moment, fresh=True while the blend moves,
    then the newest frame itself once (fresh) and after that as a hold (fresh=False), as `LatestFrame`.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._older: Frame | None = None
        self._arrived_s = 0.0
        self.interval_s: float | None = None  # the running average gap between engine frames
        self._shown_full = False
        self.blended = 0  # ticks that showed a blend (the rest showed a frame as it came)

    def put(self, frame: Frame) -> None:
        now = self._clock()
        with self._lock:
            if self._fresh:
                self.stale_dropped += 1
            if self._frame is not None:
                gap = now - self._arrived_s
                if 0.0 < gap <= MAX_INTERVAL_S:
                    self.interval_s = gap if self.interval_s is None else (
                        self.interval_s + INTERVAL_SMOOTHING * (gap - self.interval_s))
                self._older = self._frame if self._frame.image.shape == frame.image.shape else None
            self._frame = frame
            self._arrived_s = now
            self._fresh = True
            self._shown_full = False
            self.received += 1

    offer = put

    def alpha(self, now_s: float) -> float:
        """How far the newest frame has faded in at `now_s` (1: fully shown)."""
        with self._lock:
            return self._alpha_locked(now_s)

    def _alpha_locked(self, now_s: float) -> float:
        if self._older is None or not self.interval_s:
            return 1.0
        return min(max((now_s - self._arrived_s) / self.interval_s, 0.0), 1.0)

    def take(self) -> tuple[Frame | None, bool]:
        now = self._clock()
        with self._lock:
            newest, older = self._frame, self._older
            self._fresh = False
            if newest is None:
                return None, False
            weight = blend_weight(self._alpha_locked(now))
            if older is None or weight >= WEIGHT_ONE:
                fresh = not self._shown_full
                self._shown_full = True
                return newest, fresh
        self.blended += 1
        image = blend_images(older.image, newest.image, weight)
        return dataclasses.replace(newest, image=image), True


def blend_on_ticks(paced: object, clock: Callable[[], float] = time.monotonic) -> BlendingMailbox:
    """Make a paced output blend: its `PacedOutput`'s mailbox becomes a `BlendingMailbox` (before it starts)."""
    from vj.output.pacing import PacedOutput

    if not isinstance(paced, PacedOutput):
        raise TypeError(f"only a paced output can blend between frames, found {type(paced).__name__}")
    mailbox = BlendingMailbox(clock)
    paced.mailbox = mailbox
    return mailbox

