"""A camera (cv2.VideoCapture) on its own thread, reopened when it vanishes.

OpenCV does not report an unplugged camera: `read()` just starts failing. So a failed read
closes the capture, the status line says the camera is lost, and the thread tries to open it
again every `retry_s` seconds, as the MIDI port watcher does for a controller; the show
goes on with the last picture. The same code reads a video file given as the device, which
is how it is tested without a /dev/video* device (a file ends, which looks like a camera
that stops delivering).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from vj.input.slot import LatestFrame
from vj.input.video import open_capture, read_rgb

log = logging.getLogger(__name__)


class LiveCamera(LatestFrame):
    """Camera `device` (a number, or a path standing in for one) into a latest-frame slot."""

    def __init__(self, device: int | str, *, retry_s: float = 1.0,
                 opener: Callable[[int | str], Any] = open_capture) -> None:
        super().__init__()
        self.device = device
        self.label = f"webcam:{device}" if isinstance(device, int) else str(device)
        self.retry_s = retry_s
        self._opener = opener
        self._capture: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.opened = 0
        self.lost = 0
        self.failed_opens = 0
        self.last_error = ""

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vj-input-camera", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._release()

    @property
    def is_open(self) -> bool:
        return self._capture is not None

    def status(self) -> str:
        state = "live" if self.is_open else ("lost, reopening" if self.lost or self.failed_opens else "opening")
        if not self.is_open and self.last_error:
            state += f" ({self.last_error})"
        text = f"input {self.label} {state}: frames {self.received}, stale skipped {self.skipped}"
        return text + (f", lost {self.lost}, reopened {max(self.opened - 1, 0)}" if self.lost else "")

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._capture is None and not self._open():
                self._stop.wait(self.retry_s)
                continue
            frame = read_rgb(self._capture)
            if frame is None:  # unplugged, or the stream ended: close, and reopen after retry_s
                self.lost += 1
                self._release()
                log.warning("input %s stopped delivering frames; reopening every %.1f s (the show goes on "
                            "with the last picture)", self.label, self.retry_s)
                self._stop.wait(self.retry_s)
                continue
            self.put(frame)

    def _open(self) -> bool:
        try:
            self._capture = self._opener(self.device)
        except Exception as err:  # an I/O thread: log once per distinct error, count, carry on
            self.failed_opens += 1
            message = f"{type(err).__name__}: {err}" if not str(err).startswith(str(self.device)) else str(err)
            if message != self.last_error:
                log.warning("input %s cannot be opened (%s); retrying every %.1f s", self.label, message,
                            self.retry_s)
            self.last_error = message
            return False
        self.opened += 1
        self.last_error = ""
        log.info("input %s %s", self.label, "is back" if self.opened > 1 else "opened")
        return True

    def _release(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            try:
                capture.release()
            except Exception:  # a vanished device may fail to close; it is gone either way
                log.debug("releasing %s failed", self.label, exc_info=True)


def wait_for_frame(source: LatestFrame, timeout_s: float) -> bool:
    """Block until `source` has a picture (tests, start-up); False on timeout."""
    deadline = time.monotonic() + timeout_s
    while source.received == 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
