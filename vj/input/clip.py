"""A video clip as input: in step with wall time live, in step with the frames offline.

Live (`LiveClip`), a thread shows picture k at k / (clip fps / every) seconds after the start,
skipping (grabbing, not converting) the pictures it is late for, into a latest-frame slot.
Offline (`OfflineClip`), render frame i gets clip frame `first + floor(i * clip_fps / fps)`
(sync "time": the clip plays at its own speed in the render) or `first + i * every` (sync
"frame": Deforum's extracted frames, one per render frame). A decoder thread reads ahead a
few frames; the render thread waits for the one it needs (back-pressure, as the recorder),
so a render is exactly repeatable. At the end a clip loops, or (once) holds its last frame.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from enum import StrEnum

import numpy as np

from vj.input.slot import LatestFrame
from vj.input.video import ClipCursor, open_capture

log = logging.getLogger(__name__)


class ClipSync(StrEnum):
    TIME = "time"  # the clip keeps its own speed
    FRAME = "frame"  # one clip picture (every Nth frame) per render frame, as Deforum's Video Input


def _cursor(path: str, loop: bool, first: int, every: int, last: int) -> ClipCursor:
    return ClipCursor(lambda: open_capture(path), loop=loop, first=first, every=every, last=last)


class LiveClip(LatestFrame):
    """A clip played against the wall clock on a named thread."""

    def __init__(self, path: str, clip_fps: float, *, loop: bool = True, first: int = 0, every: int = 1,
                 last: int = -1, now: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.path = path
        self.rate = clip_fps / max(every, 1)
        self.cursor = _cursor(path, loop, first, every, last)
        self._now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.last_error = ""

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vj-input-clip", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.cursor.close()

    def status(self) -> str:
        state = "ended, holding the last frame" if self.cursor.ended and not self.cursor.loop else (
            "looping" if self.cursor.loop else "playing")
        if self.last_error:
            state = f"error ({self.last_error})"
        return f"input {self.path} {state}: frames {self.received}, stale skipped {self.skipped}"

    def _run(self) -> None:
        start = self._now()
        shown = -1
        while not self._stop.is_set():
            k = int(math.floor((self._now() - start) * self.rate + 1e-9))
            if k != shown:
                try:
                    frame = self.cursor.frame(k)
                except Exception as err:  # a file that went bad mid-show: count, hold the last picture
                    self.errors += 1
                    self.last_error = f"{type(err).__name__}: {err}"
                    log.warning("input %s: %s; holding the last picture", self.path, self.last_error)
                    self._stop.wait(1.0)
                    continue
                shown = k
                if frame is not None and frame is not self._frame:
                    self.put(frame)
            wait = start + (k + 1) / self.rate - self._now()
            self._stop.wait(min(max(wait, 0.0), 0.5))


class OfflineClip:
    """Clip pictures for render frames `start, start + 1, ...`, decoded ahead on a named thread."""

    AHEAD = 4

    def __init__(self, path: str, clip_fps: float, fps: float, *, sync: ClipSync = ClipSync.TIME,
                 loop: bool = True, first: int = 0, every: int = 1, last: int = -1, start: int = 0,
                 timeout_s: float = 60.0) -> None:
        self.path = path
        self.sync = sync
        self._ratio = clip_fps / fps
        self.cursor = _cursor(path, loop, first, every if sync is ClipSync.FRAME else 1, last)
        self._next = start
        self._ready: queue.Queue[tuple[int, np.ndarray | None, BaseException | None]] = queue.Queue(self.AHEAD)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._timeout_s = timeout_s
        self.delivered = 0

    def picture_number(self, index: int) -> int:
        """Which picture of the clip render frame `index` shows (before looping/holding)."""
        if self.sync is ClipSync.FRAME:
            return index
        return int(math.floor(index * self._ratio + 1e-9))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vj-input-clip", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        try:
            while True:
                self._ready.get_nowait()  # unblock a decoder waiting for room
        except queue.Empty:
            pass
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.cursor.close()

    def status(self) -> str:
        return f"input {self.path}: {self.delivered} frames"

    def _run(self) -> None:
        index = self._next
        while not self._stop.is_set():
            item: tuple[int, np.ndarray | None, BaseException | None]
            try:
                item = (index, self.cursor.frame(self.picture_number(index)), None)
            except BaseException as err:  # handed to the render thread, which reports it
                item = (index, None, err)
            while not self._stop.is_set():
                try:
                    self._ready.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if item[2] is not None:
                return
            index += 1

    def frame_for(self, index: int, time_s: float) -> np.ndarray | None:
        """The picture of render frame `index` (frames come in order; a skipped index is passed over)."""
        while True:
            try:
                got, frame, error = self._ready.get(timeout=self._timeout_s)
            except queue.Empty:
                raise RuntimeError(f"input {self.path}: no frame decoded within {self._timeout_s:.0f} s") from None
            if error is not None:
                raise RuntimeError(f"input {self.path}: decoding failed: {error}") from error
            if got >= index:
                self.delivered += 1
                return frame
