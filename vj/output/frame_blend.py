"""Blending between the two latest frames on each output tick: smooth motion at 60 Hz from a 25-40 fps engine.

A paced output (vj.output.pacing) ticks at the display's rate. With `repeat` it sends the newest
frame and holds it until the next one: at 30 fps into 60 Hz each picture shows for two ticks, at
40 fps for one or two, unevenly, which reads as judder on a pan or a zoom. `BlendingMailbox`
replaces the output's one-frame mailbox: at each tick it shows the newest frame faded in over
the one before, by how far the tick is into the engine's frame interval (a running average of
the gaps between frames), so every tick moves the picture a little. The price is one engine
frame of latency: a frame shows fully one interval after it arrives.

Where the blend is made:
- `--output-rate-mode blend` (the default blend): on the device. The engine publishes each frame
  with k in-betweens (vj.engine.publish: the previous frame blended into this one at 1/(k+1) ...
  k/(k+1), made from the two uint8 pictures on the device and carried in the frame's one copy
  out), and each tick shows the one nearest its fade: no sum on the host, and every output
  shares the same pictures. The price is k more pictures in the copy (at 1080p, 6.2 MB each).
- `--output-rate-mode blend-host`: on the host, on each output's own thread, by the exact fade
  of the tick (`blend_images`): no extra bus traffic, and a sum per output per tick on the CPU.
  Outputs whose frames carry no in-betweens blend this way too: a depth channel (its in-betweens
  would be the picture's) and an output with a size of its own (vj.output.resized), whose picture
  is made on the host anyway. The costs are measured in benchmarks/output_rate.py (RESULTS.md).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from vj.frames import Frame
from vj.output.pacing import LatestFrame
from vj.picture_blend import WEIGHT_ONE, blend_images, blend_weight

INTERVAL_SMOOTHING = 0.2  # how fast the running frame interval follows a change of engine rate
MAX_INTERVAL_S = 1.0  # a gap longer than this (a freeze, a preset load) is not an engine rate


def nearest_in_between(older: Frame, newest: Frame, alpha: float) -> tuple[Frame, bool] | None:
    """The device-made picture nearest the fade `alpha` (None: the newest frame carries none).

    With k in-betweens the choices are the older picture, the k in-betweens and the newest, at
    0, 1/(k+1), ..., 1; the frame returned shows that picture, and the bool says it is the newest itself."""
    k = len(newest.in_betweens)
    if not k:
        return None
    step = int(round(min(max(alpha, 0.0), 1.0) * (k + 1)))
    if step >= k + 1:
        return newest, True
    picture = older.image if step == 0 else newest.in_betweens[step - 1]
    return dataclasses.replace(newest, image=picture), False


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
        self.from_device = 0  # of those, ticks that showed an in-between made on the device (the rest: on the host)

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

    def note(self) -> str:
        return f", blended {self.blended} ({self.from_device} from the device)"

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
            alpha = self._alpha_locked(now)
            weight = blend_weight(alpha)
            made = None if older is None or weight >= WEIGHT_ONE else nearest_in_between(older, newest, alpha)
            if older is None or weight >= WEIGHT_ONE or (made is not None and made[1]):
                fresh = not self._shown_full
                self._shown_full = True
                return newest, fresh
        self.blended += 1
        if made is not None:
            self.from_device += 1
            return made[0], True
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

