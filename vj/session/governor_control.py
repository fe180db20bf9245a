"""The frame-rate governor in a live show: measures the engine's rate and applies `FpsGovernor`'s levels.

A control like the others (started, closed, shown in the status line). Every `period_s` it
reads how many frames the engine published since the last reading, asks the pure controller
(vj.session.governor) for a level, and applies a change through the store, so the take records
it and a replay performs it on the same frame: the steps and cadence as live overrides from
source "governor" (released again at the preset's value), the size as a "resize" event the
engine takes at the frame boundary, the depth model's refresh as a "depth_refresh" event.
A parameter someone else holds live is left alone.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vj.session.governor import FpsGovernor, GovernorLevel, plan_levels
from vj.snapshot import depth_refresh_event, resize_event

if TYPE_CHECKING:  # the session builds the governor: imported for the type only
    from vj.session.live import LiveSession

log = logging.getLogger(__name__)
SOURCE = "governor"
DOWN_BELOW, UP_ABOVE = 0.9, 1.25  # × target: below steps down, above steps up, between changes nothing


@dataclass(frozen=True, slots=True)
class GovernorChange:
    frame: int  # the engine's frame count when the change was made
    level: int
    setting: GovernorLevel


class FrameRateGovernor:
    """Holds `target_fps` on a running session by stepping its quality levels."""

    def __init__(self, session: LiveSession, target_fps: float, sizes: tuple[tuple[int, int], ...], *,
                 period_s: float = 0.5, dwell_s: float = 2.0, confirm: int = 2) -> None:
        """`sizes`: the smaller sizes warmed before the show (the only ones the governor may step to)."""
        self.session = session
        self.target_fps = target_fps
        self.sizes = sizes
        self.period_s = period_s
        self._dwell_s, self._confirm = dwell_s, confirm
        self._down_below, self._up_above = DOWN_BELOW, UP_ABOVE
        self.changes: list[GovernorChange] = []
        self.skipped: set[str] = set()  # parameters left alone because a performer held them
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.levels: tuple[GovernorLevel, ...] = ()
        self.replan()

    def replan(self, size: tuple[int, int] | None = None) -> None:
        """Level 0 is what the store runs now at `size` (the engine's when None): at start, after a preset switch.

        The smaller warmed sizes stay the ladder's; a preset at another size steps among those below it."""
        store, engine = self.session.store, self.session.engine
        width, height = size or (engine.width, engine.height)
        with self._lock:
            depth_every_n = self.session.preset.depth.every_n if engine.depth is not None else None
            self.levels = plan_levels(width, height, int(store.target("steps")), int(store.target("cadence")),
                                      self.sizes, depth_every_n=depth_every_n)
            self.controller = FpsGovernor(self.target_fps, len(self.levels), dwell_s=self._dwell_s,
                                          confirm=self._confirm, down_below=self._down_below,
                                          up_above=self._up_above)
            self.level = 0

    def tune(self, *, period_s: float | None = None, dwell_s: float | None = None, confirm: int | None = None,
             down_below: float | None = None, up_above: float | None = None) -> None:
        """Change how often it reads the rate, how long it dwells and its thresholds (× target), before the show:
        it starts again at level 0."""
        self.period_s = period_s or self.period_s
        self._dwell_s = dwell_s or self._dwell_s
        self._confirm = confirm or self._confirm
        self._down_below = down_below or self._down_below
        self._up_above = up_above or self._up_above
        self.replan()

    # ------------------------------------------------------------------ control protocol
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vj-governor", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def status(self) -> str:
        with self._lock:
            level, of = self.level, len(self.levels) - 1
            setting = self.levels[level]
        return f"governor {self.target_fps:g} fps: level {level}/{of} {setting.describe()}"

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        last_frames, last_s = None, time.monotonic()
        while not self._stop.wait(self.period_s):
            engine = self.session.engine
            now, frames = time.monotonic(), engine.stats.frames
            if self.session.warming or self.session.performer.frozen or frames == 0:
                last_frames, last_s = None, now  # no rate to read: warming, frozen, or not started
                continue
            if last_frames is not None and now > last_s:
                self.observe(now, (frames - last_frames) / (now - last_s))
            last_frames, last_s = frames, now

    def observe(self, now_s: float, fps: float) -> None:
        """One measured rate: ask the controller, apply a new level."""
        with self._lock:
            level = self.controller.observe(now_s, fps)
            if level == self.level:
                return
            before, after = self.levels[self.level], self.levels[level]
            self.level = level
            self._apply(before, after)
            self.changes.append(GovernorChange(self.session.engine.stats.frames, level, after))
        log.info("governor: %.1f fps against %g: level %d (%s)", fps, self.target_fps, level, after.describe())

    def _apply(self, before: GovernorLevel, after: GovernorLevel) -> None:
        store = self.session.store
        base = self.levels[0]
        with store.batch():  # land together in one frame
            if (after.width, after.height) != (before.width, before.height):
                store.apply_event(resize_event(after.width, after.height, SOURCE))
            if after.depth_every_n is not None and after.depth_every_n != before.depth_every_n:
                store.apply_event(depth_refresh_event(after.depth_every_n, SOURCE))
            for name, value, preset_value in (("steps", after.steps, base.steps),
                                              ("cadence", after.cadence, base.cadence)):
                holder = store.held_by(name)
                if holder not in (None, SOURCE):
                    self.skipped.add(name)  # the performer holds it: theirs, not ours
                elif value == preset_value:
                    if holder == SOURCE:
                        store.release(name, source=SOURCE)
                else:
                    store.set(name, value, source=SOURCE)
