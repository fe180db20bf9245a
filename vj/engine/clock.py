"""Frame clocks: where `now` and `dt` come from for each frame.

Live, motion and smoothing use the real elapsed time, so motion speed does not depend on
how fast frames are generated. Offline, every frame is exactly 1/fps apart, so a Deforum
schedule renders as Deforum renders it. Replay feeds back the times a live take recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol


class Clock(Protocol):
    def tick(self, frame_index: int) -> tuple[float, float]:
        """Return (now_s since the first frame, dt_s since the previous frame)."""
        ...


class LiveClock:
    """Real elapsed time from a monotonic clock; the first frame has dt = 1/fps."""

    def __init__(self, fps: float, now: Callable[[], float] = time.perf_counter, max_dt_s: float = 0.25) -> None:
        self._fps = fps
        self._now = now
        self._start: float | None = None
        self._last = 0.0
        # A stall (a debugger, a GC pause, a model load) must not turn into one giant jump.
        self._max_dt_s = max_dt_s

    def tick(self, frame_index: int) -> tuple[float, float]:
        t = self._now()
        if self._start is None:
            self._start = t - 1.0 / self._fps
            self._last = self._start
        dt = min(t - self._last, self._max_dt_s)
        self._last = t
        return t - self._start, dt


class FixedClock:
    """Exactly 1/fps per frame: offline render."""

    def __init__(self, fps: float) -> None:
        self._dt = 1.0 / fps

    def tick(self, frame_index: int) -> tuple[float, float]:
        return (frame_index + 1) * self._dt, self._dt


class RecordedClock:
    """Times recorded by a live take (seconds since its first frame), replayed exactly."""

    def __init__(self, times_s: Sequence[float], dts_s: Sequence[float]) -> None:
        if len(times_s) != len(dts_s):
            raise ValueError(f"RecordedClock: {len(times_s)} times but {len(dts_s)} dts")
        self._times = list(times_s)
        self._dts = list(dts_s)

    def __len__(self) -> int:
        return len(self._times)

    def tick(self, frame_index: int) -> tuple[float, float]:
        if frame_index >= len(self._times):
            raise IndexError(f"RecordedClock: frame {frame_index} is past the recorded {len(self._times)} frames")
        return self._times[frame_index], self._dts[frame_index]
