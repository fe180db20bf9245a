"""Video through OpenCV: open a camera or a file, and walk a clip frame by frame.

OpenCV is an optional extra (`vj[headless]`, or `vj[preview]` with the preview window):
without it a video input says so in one line. A camera and a file go through the same
`cv2.VideoCapture` code, which is how the camera path is tested here (no /dev/video*).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vj.input.spec import InputError

INSTALL_HINT = "pip install 'vj[headless]' (or 'vj[preview]', which also gives the preview window)"

Opener = Callable[[], Any]  # returns an opened cv2.VideoCapture-like object


def cv2_module() -> Any:
    try:
        import cv2
    except ImportError as err:
        raise InputError(f"video input needs OpenCV, which cannot be imported ({err}): {INSTALL_HINT}") from None
    return cv2


def open_capture(target: int | str) -> Any:
    """An opened cv2.VideoCapture for a camera number or a file, or an InputError."""
    cv2 = cv2_module()
    capture = cv2.VideoCapture(target)
    if not capture.isOpened():
        capture.release()
        what = f"camera {target}" if isinstance(target, int) else f"{target}"
        raise InputError(f"{what} cannot be opened as video")
    return capture


def read_rgb(capture: Any) -> np.ndarray | None:
    """The next frame as RGB uint8 HxWx3 (a new array), or None at the end / on failure.

    OpenCV converts in one pass: a 720p frame in 0.13 ms, where a copy through numpy's
    reversed-channel view took 2.6 ms, about a sixth of the capture thread's time per frame
    (benchmarks/input_controlnet.py).
    """
    ok, bgr = capture.read()
    if not ok or bgr is None:
        return None
    cv2 = cv2_module()
    channels = 1 if bgr.ndim == 2 else bgr.shape[2]
    code = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}.get(channels)
    if code is None:
        raise InputError(f"a video frame with {channels} channels: expected grey, BGR or BGRA")
    return cv2.cvtColor(bgr, code)


@dataclass(frozen=True, slots=True)
class ClipInfo:
    width: int
    height: int
    fps: float
    frames: int  # as the container says (0 when unknown); the cursor learns the true count at the end


def probe_clip(path: str) -> ClipInfo:
    """Open a clip and decode its first frame: an InputError if it is not a readable video."""
    capture = open_capture(path)
    try:
        first = read_rgb(capture)
        if first is None:
            raise InputError(f"{path}: no frame could be decoded (not a video OpenCV can read)")
        cv2 = cv2_module()
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        capture.release()
    if not math.isfinite(fps) or fps <= 0:
        fps = 25.0  # a stream with no rate (some GIFs): OpenCV's own fallback
    return ClipInfo(int(first.shape[1]), int(first.shape[0]), fps, max(count, 0))


class ClipCursor:
    """Frame k of a clip on demand, reading forward (skipped frames only grabbed, not converted).

    `loop`: past the end it starts again (k modulo the clip's length); otherwise it holds the
    last frame. Going back (a loop restarting) reopens the file. Sequential reading is exact:
    the same k always gives the same picture.
    """

    def __init__(self, opener: Opener, *, loop: bool, first: int = 0, every: int = 1, last: int = -1) -> None:
        self._opener = opener
        self.loop = loop
        self.first, self.every, self.last = first, max(every, 1), last
        self._capture: Any = None
        self._position = 0  # index of the next frame the open capture will read
        self._frame: np.ndarray | None = None  # the last picture converted, and its clip frame number
        self._frame_index = -1
        self.length: int | None = None  # frames in the clip, once the end was seen
        self.ended = False
        self.opens = 0

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _reopen(self) -> None:
        self.close()
        self._capture = self._opener()
        self._position = 0
        self.opens += 1

    def source_frame(self, k: int) -> int:
        """Clip frame number of the k-th picture wanted (extract every Nth from `first` to `last`)."""
        n = self.first + k * self.every
        end = self.length if self.length is not None else None
        if self.last >= 0:
            end = min(end, self.last + 1) if end is not None else self.last + 1
        if end is None or n < end:
            return n
        if not self.loop:
            return end - 1
        span = max(end - self.first, 1)
        return self.first + ((n - self.first) % span)

    def frame(self, k: int) -> np.ndarray | None:
        """Picture k (see `source_frame`); None only when the clip has no frame at all."""
        for _ in range(3):  # at most: read, learn the length at the end, read the wrapped/held frame
            n = self.source_frame(k)
            if self._frame is not None and self._frame_index == n:
                return self._frame
            if self._capture is None or n < self._position:
                self._reopen()
            if self._read_up_to(n):
                return self._frame
            if self._position == 0:  # not one frame in it
                return None
            self.length = self._position  # the end came before frame n: now the length is known
            self.ended = True
        return self._frame

    def _read_up_to(self, n: int) -> bool:
        while self._position < n:
            if not self._capture.grab():
                return False
            self._position += 1
        frame = read_rgb(self._capture)
        if frame is None:
            return False
        self._frame, self._frame_index = frame, self._position
        self._position += 1
        return True
