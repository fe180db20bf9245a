"""What changes between two frames: requests from other threads and the events a snapshot carries.

Other threads ask for a new size or a colour re-anchor through `BoundaryRequests`; a snapshot's
events (a size change the governor or a replay recorded, a model switch, a depth refresh, a new
reference picture) ride in the frame they belong to. `apply_boundary` takes them all on the
render thread, before the frame is made, so every change lands on a frame boundary.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from vj.engine.conditioning.reference_pictures import apply_reference_event
from vj.snapshot import resize_size
from vj.store import ParamSnapshot

if TYPE_CHECKING:
    from vj.engine.loop import Engine

log = logging.getLogger(__name__)


class BoundaryRequests:
    """What other threads ask of the loop (a new size, a colour re-anchor), taken at a frame boundary."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resize: tuple[int, int] | None = None
        self._reset_anchor = False

    def ask(self, *, resize: tuple[int, int] | None = None, reset_anchor: bool = False) -> None:
        with self._lock:
            self._resize = resize or self._resize
            self._reset_anchor = self._reset_anchor or reset_anchor

    def take(self) -> tuple[tuple[int, int] | None, bool]:
        """The requests since the last take, cleared."""
        with self._lock:
            asked = self._resize, self._reset_anchor
            self._resize, self._reset_anchor = None, False
        return asked


def apply_boundary(engine: Engine, requests: BoundaryRequests, snap: ParamSnapshot) -> None:
    """On the render thread, before `snap`'s frame: the requests since the last frame, then its events."""
    resize, reset_anchor = requests.take()
    requested = resize is not None  # a preset switch's own size wins over an event in the same frame
    for event in snap.events:  # a size change that rides in the frame's events (the governor's, replayed)
        if event.kind == "resize" and not requested:
            try:
                engine.backend.check_resolution(*resize_size(event))
            except ValueError as err:  # a replay on a model that cannot render the recorded size
                log.warning("kept %dx%d: %s", engine.width, engine.height, err)
            else:
                resize = resize_size(event)
        elif event.kind == "model":  # before a resize: the new model checks the size
            engine.models.take(engine, event, snap.frame_index, snap.time_s, snap.dt_s)
        elif event.kind == "depth_refresh" and engine.depth is not None:  # taken up by this frame's depth
            depth = engine.depth
            every_n = int(dict(event.value)["every_n"])  # type: ignore[call-overload]
            depth.request_settings(resolution=depth.resolution, every_n=every_n, ema=depth.ema)
        elif event.kind == "reference" and engine.references is not None:  # live, or replayed from a take
            apply_reference_event(engine.references, event)
    if reset_anchor:
        engine.feedback.anchor = None
    if resize and resize != (engine.width, engine.height):
        engine.resize_now(*resize)
