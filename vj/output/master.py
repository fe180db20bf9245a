"""Master level and blackout: the gain applied where frames leave the loop for the outputs.

The stage sits between the engine and the fan-out, so every output (virtual camera, NDI,
preview, recording, the browser) sees the same faded picture, while the engine's own
feedback never does: a blackout that fed black back into the loop would wipe the picture
it is meant to bring back. The engine's published pixels are a private copy per frame, so
scaling them here touches nothing the next frame reads.

`master` is a parameter (smoothed by the store, recorded, schedulable, on every control
surface) read from each frame's snapshot; the blackout is a toggle with its own fade,
timed here on the output side. While the engine is frozen no frame arrives, so `refresh`
re-sends the held frame when the level has moved (a blackout during a freeze still fades).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import numpy as np

from vj.frames import Frame, FrameSink
from vj.snapshot import ControlEvent, blackout_event

Clock = Callable[[], float]
LEVEL_EPSILON = 1.0 / 512  # below half a grey level of change: nothing to re-send


class Blackout:
    """A toggle whose level glides linearly to 0 (on) or 1 (off); a full swing takes the fade time given."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._on = False
        self._from = 1.0
        self._started = 0.0
        self._fade_s = 0.0

    @property
    def on(self) -> bool:
        return self._on

    def set(self, on: bool, fade_s: float) -> None:
        """Start fading from wherever the level is now (a toggle mid-fade turns round smoothly)."""
        with self._lock:
            now = self._clock()
            self._from = self._level_locked(now)
            self._on, self._started, self._fade_s = on, now, max(float(fade_s), 0.0)

    def level(self) -> float:
        """1 = picture, 0 = black."""
        with self._lock:
            return self._level_locked(self._clock())

    def _level_locked(self, now: float) -> float:
        target = 0.0 if self._on else 1.0
        if self._fade_s <= 0.0:
            return target
        # The fade time is a full swing: a turn mid-fade takes only the part of it still to go.
        moved = min(max(now - self._started, 0.0) / self._fade_s, abs(target - self._from))
        return self._from + moved if target > self._from else self._from - moved


def scaled(image: np.ndarray, gain: float) -> np.ndarray:
    """`image` (uint8) times `gain` in 0..1, in fixed point (one pass, no float copy of the frame)."""
    if gain >= 1.0 - LEVEL_EPSILON:
        return image
    if gain <= LEVEL_EPSILON:
        return np.zeros_like(image)
    factor = np.uint16(round(gain * 256))
    return ((image.astype(np.uint16) * factor) >> 8).astype(np.uint8)


class MasterStage:
    """A `FrameSink` that applies master × blackout and passes the frame on to `sink` (the fan-out).

    A blackout switched with `switch_blackout` is added to the events of the first frame it darkens, so
    the take's timeline has it on that frame and a replay fades from the same one.
    """

    def __init__(self, sink: FrameSink, blackout: Blackout | None = None) -> None:
        self.sink = sink
        self.blackout = blackout or Blackout()
        self._lock = threading.Lock()
        self._held: Frame | None = None  # the last frame as the engine made it
        self._sent_gain = 1.0
        self._master = 1.0
        self._switches: list[ControlEvent] = []  # blackout switches no frame has carried yet

    def gain(self, master: float) -> float:
        return min(max(master, 0.0), 1.0) * self.blackout.level()

    def switch_blackout(self, on: bool, fade_s: float, *, source: str = "live") -> None:
        """Fade to black (on) or back (off) over `fade_s`, from wherever the level is now."""
        with self._lock:
            self.blackout.set(on, fade_s)
            self._switches.append(blackout_event(on, fade_s, source))

    def offer(self, frame: Frame) -> None:
        master = float(frame.snapshot.values.get("master", 1.0))
        with self._lock:
            self._held, self._master = frame, master
            switches, self._switches = self._switches, []
            gain = self.gain(master)
        if switches:
            snapshot = frame.snapshot
            frame = dataclasses.replace(frame, snapshot=dataclasses.replace(
                snapshot, events=(*snapshot.events, *switches)))
        self._send(frame, gain)

    def refresh(self, master: float | None = None) -> bool:
        """Re-send the held frame if the level moved since it was sent (the engine is frozen). True if sent."""
        with self._lock:
            frame = self._held
            if master is not None:
                self._master = master
            master = self._master
        if frame is None:
            return False
        gain = self.gain(master)
        if abs(gain - self._sent_gain) < LEVEL_EPSILON:
            return False
        self._send(frame, gain)
        return True

    def _send(self, frame: Frame, gain: float) -> None:
        self._sent_gain = gain
        image = scaled(frame.image, gain)
        if image is not frame.image:
            source = frame.render_image
            frame = dataclasses.replace(frame, image=image,
                                        render_image=scaled(source, gain) if source is not None else None)
        self.sink.offer(frame)
