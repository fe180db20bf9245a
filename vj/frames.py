"""The published frame and the bounded queues that carry it to the outputs.

Shared by the engine (which publishes) and the outputs (which consume); neither imports
the other. Live mode: a full queue drops its oldest frame and counts it, so a slow output
never stalls the render loop. Offline mode: `put` blocks instead (back-pressure), so no
frame is ever lost.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vj.store import ParamSnapshot


@dataclass(frozen=True, slots=True)
class Frame:
    """One rendered picture: RGB uint8, shape (height, width, 3), plus what made it."""

    index: int
    time_s: float
    image: np.ndarray
    snapshot: ParamSnapshot
    seed: int = 0
    diffused: bool = True
    stage_ms: Mapping[str, float] = field(default_factory=dict)
    depth: np.ndarray | None = None  # greyscale uint8 (height, width), 255 = nearest, when asked for
    render_size: tuple[int, int] | None = None  # (width, height) the engine rendered; None: the image's own
    render_image: np.ndarray | None = None  # the picture at the render size, when it rode along (--record-size)
    # Pictures between the previous frame and this one, blended on the device at i/(k+1), i = 1..k
    # (`--output-rate-mode blend`): what a paced output shows between engine frames.
    in_betweens: tuple[np.ndarray, ...] = ()

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


class FrameSink(Protocol):
    """Anything the engine publishes to. `offer` must never block in live mode."""

    def offer(self, frame: Frame) -> None: ...


class InputFrames(Protocol):
    """A picture source the engine mixes into its init image (`--input`; vj.input provides them).

    The engine reads it once per diffused frame on the render thread. Live sources return the
    newest picture a capture thread left in their slot and never wait; an offline clip returns
    the picture that belongs to `index` (it may wait for its decoder: back-pressure, as the
    recorder's). Returning the same array object again means "no new picture": the engine then
    skips the upload.
    """

    def frame_for(self, index: int, time_s: float) -> np.ndarray | None:
        """RGB uint8 (height, width, 3) for frame `index`, or None while there is none yet."""
        ...


class FrameQueue:
    """A bounded queue of frames for one output.

    `blocking=False` (live): when full, the oldest frame is dropped and counted.
    `blocking=True` (offline render): `offer` waits for room, so every frame arrives.
    """

    def __init__(self, maxsize: int = 2, *, blocking: bool = False, name: str = "output") -> None:
        if maxsize < 1:
            raise ValueError(f"FrameQueue maxsize must be >= 1, found {maxsize}")
        self.name = name
        self.blocking = blocking
        self._queue: queue.Queue[Frame | None] = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self.dropped = 0
        self.offered = 0

    def offer(self, frame: Frame) -> None:
        self.offered += 1
        if self.blocking:
            self._queue.put(frame)
            return
        while True:
            try:
                self._queue.put_nowait(frame)
                return
            except queue.Full:
                self._drop_oldest()

    def _drop_oldest(self) -> None:
        with self._lock:
            try:
                self._queue.get_nowait()
                self.dropped += 1
            except queue.Empty:  # the consumer took it first: there is room now
                pass

    def get(self, timeout_s: float | None = None) -> Frame | None:
        """Next frame, or None on timeout or after `close()`."""
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def close(self) -> None:
        """Wake the consumer with a None sentinel (it stops after draining)."""
        try:
            self._queue.put(None, timeout=1.0)
        except queue.Full:
            self._drop_oldest()
            self._queue.put_nowait(None)


class FanOut:
    """Publishes each frame to every registered sink, in registration order."""

    def __init__(self) -> None:
        self._sinks: list[FrameSink] = []
        self._lock = threading.Lock()

    def add(self, sink: FrameSink) -> None:
        with self._lock:
            self._sinks = [*self._sinks, sink]

    def remove(self, sink: FrameSink) -> None:
        with self._lock:
            self._sinks = [s for s in self._sinks if s is not sink]

    def offer(self, frame: Frame) -> None:
        for sink in self._sinks:  # copy-on-write list: safe to read without the lock
            sink.offer(frame)

    @property
    def sinks(self) -> tuple[FrameSink, ...]:
        return tuple(self._sinks)
