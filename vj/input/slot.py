"""The latest-frame slot between a capture thread and the render thread."""

from __future__ import annotations

import threading

import numpy as np


class LatestFrame:
    """Holds only the newest picture: a put over an unread one skips (and counts) the stale one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._read = True
        self.received = 0
        self.skipped = 0

    def put(self, frame: np.ndarray) -> None:
        with self._lock:
            if not self._read:
                self.skipped += 1
            self._frame = frame
            self._read = False
            self.received += 1

    def latest(self) -> np.ndarray | None:
        """The newest picture (the same object until a new one arrives), or None before the first."""
        with self._lock:
            self._read = True
            return self._frame

    def frame_for(self, index: int, time_s: float) -> np.ndarray | None:  # vj.frames.InputFrames
        return self.latest()
