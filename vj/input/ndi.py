"""An NDI source as input (cyndilib's finder and receiver), reconnected when it vanishes.

The thread finds the source by name (`HOST (NAME)` exactly, or any source whose stream name
is NAME), receives video as RGBX and keeps the newest picture in a latest-frame slot. A
source that sends nothing for `lost_after_s` (the sender stopped, the network went) is
disconnected and searched for again; the status line says so and the show goes on with the
last picture. The finder keeps listing a vanished sender for a while, so a connection counts
(and the status line names the source) only once a picture has arrived over it. cyndilib
is the optional extra `vj[ndi]` (its wheels bundle the NDI runtime).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from vj.input.slot import LatestFrame
from vj.input.spec import InputError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'vj[ndi]'"


def check_cyndilib() -> None:
    try:
        import cyndilib  # noqa: F401
    except ImportError as err:
        raise InputError(f"--input ndi:...: cyndilib cannot be imported ({err}): {INSTALL_HINT}") from None


def matches(source_name: str, wanted: str) -> bool:
    """'HOST (vj)' matches 'HOST (vj)' and 'vj'."""
    if source_name == wanted:
        return True
    return source_name.endswith(")") and "(" in source_name and source_name[source_name.rindex("(") + 1:-1] == wanted


def rgbx_to_rgb(data: np.ndarray, width: int, height: int, stride: int) -> np.ndarray:
    """A received RGBX/RGBA buffer (rows `stride` bytes apart) as a fresh RGB HxWx3 array."""
    rows = data[:height * stride].reshape(height, stride)[:, :width * 4].reshape(height, width, 4)
    return np.ascontiguousarray(rows[:, :, :3])


class NdiInput(LatestFrame):
    """The NDI source `name` into a latest-frame slot, on the thread `vj-input-ndi`."""

    def __init__(self, name: str, *, lost_after_s: float = 2.0, search_s: float = 0.5) -> None:
        super().__init__()
        self.name = name
        self.lost_after_s = lost_after_s
        self.search_s = search_s
        self.connected_to: str | None = None  # set once a picture arrived over the connection
        self.connects = 0
        self.lost = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        check_cyndilib()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vj-input-ndi", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def status(self) -> str:
        state = repr(self.connected_to) if self.connected_to else ("lost, searching" if self.lost else "searching")
        text = f"input ndi:{self.name} {state}: frames {self.received}, stale skipped {self.skipped}"
        return text + (f", lost {self.lost}, reconnected {max(self.connects - 1, 0)}" if self.lost else "")

    def _run(self) -> None:
        from cyndilib import Finder

        finder = Finder()
        finder.open()
        try:
            while not self._stop.is_set():
                try:
                    source = self._find(finder)
                    if source is not None:
                        self._receive(source)
                except Exception:  # an I/O thread: log, count, search again
                    self.errors += 1
                    log.exception("NDI input %r failed; searching again", self.name)
                    self._stop.wait(1.0)
        finally:
            finder.close()

    def _find(self, finder: Any) -> Any:
        finder.wait_for_sources(self.search_s)
        for name in finder.get_source_names():
            if matches(name, self.name):
                return finder.get_source(name)
        return None

    def _receive(self, source: Any) -> None:
        from cyndilib import Receiver, RecvBandwidth, RecvColorFormat, VideoRecvFrame
        from cyndilib.receiver import ReceiveFrameType

        receiver = Receiver(color_format=RecvColorFormat.RGBX_RGBA, bandwidth=RecvBandwidth.highest)
        video = VideoRecvFrame()
        receiver.set_video_frame(video)
        receiver.set_source(source)
        name = str(source.name)
        last_frame = time.monotonic()
        buffer = np.zeros(0, np.uint8)
        try:
            while not self._stop.is_set():
                got = receiver.receive(ReceiveFrameType.recv_video, 100)
                if got & ReceiveFrameType.recv_video:
                    size = video.get_buffer_size()
                    if buffer.size != size:
                        buffer = np.zeros(size, np.uint8)
                    video.fill_p_data(buffer)
                    width, height = video.get_resolution()
                    self.put(rgbx_to_rgb(buffer, int(width), int(height), int(video.get_line_stride())))
                    last_frame = time.monotonic()
                    if self.connected_to is None:
                        self.connected_to = name
                        self.connects += 1
                        log.info("NDI input %r %s", name, "is back" if self.connects > 1 else "connected")
                elif time.monotonic() - last_frame > self.lost_after_s:
                    if self.connected_to is None:  # a stale listing of a sender that has gone: search on
                        log.debug("NDI input %r: no picture in %.1f s; searching", name, self.lost_after_s)
                        return
                    self.lost += 1
                    log.warning("NDI input %r sent nothing for %.1f s; searching for it again (the show goes on "
                                "with the last picture)", name, self.lost_after_s)
                    return
        finally:
            self.connected_to = None
            receiver.disconnect()
