"""The performer's essentials: master, blackout, freeze and panic, as one object every surface calls.

- master: a parameter (`/vj/master`, a fader), applied on the output side (vj.output.master).
- blackout: a toggle that fades the outputs to black over `blackout_fade_s`, and back.
- freeze: the render thread waits at the start of its next frame, so the feedback does not
  advance; the paced outputs hold the last frame; the store keeps taking every control
  change, and the first frame after resume takes them all. The frame clock does not count
  the frozen time, so motion and smoothing resume where they stopped instead of jumping.
- panic: recall the playing preset now (no quantise wait), which releases every live
  override back to the preset or its schedules and puts back the preset's own LFOs (LFOs
  attached live are gone); it also ends a freeze. A blackout stays as it is: panic never
  flashes the picture back on.

The engine knows none of this: the freeze is a gate inside the clock the session hands it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from vj.engine.render_thread import StopRendering
from vj.output.master import MasterStage

if TYPE_CHECKING:
    from vj.engine.clock import Clock
    from vj.session.live import LiveSession

log = logging.getLogger(__name__)


class FreezeGate:
    """Holds the render thread while frozen; counts the frozen time so the clock can leave it out.

    `hold()` returns at once when not frozen. While frozen it waits in slices of `idle_s`,
    calling `idle()` each time (the output stage re-sends the held frame when its level moved).
    `close()` opens the gate for good, so stopping a frozen show never waits.
    """

    def __init__(self, idle_s: float = 1 / 60, now: Callable[[], float] = time.perf_counter) -> None:
        self._cond = threading.Condition()
        self._frozen = False
        self._closed = False
        self._now = now
        self._idle_s = idle_s
        self._frozen_at = 0.0
        self._holding = False
        self.frozen_total_s = 0.0
        self.idle: Callable[[], object] = lambda: None

    @property
    def frozen(self) -> bool:
        return self._frozen

    @property
    def holding(self) -> bool:
        """The render thread is parked here (a freeze lands once the frame in flight is out)."""
        return self._holding

    def set(self, on: bool) -> bool:
        with self._cond:
            if on and not self._frozen and not self._closed:
                self._frozen, self._frozen_at = True, self._now()
            elif not on and self._frozen:
                self._frozen = False
                self.frozen_total_s += self._now() - self._frozen_at
                self._cond.notify_all()
            return self._frozen

    def close(self) -> None:
        with self._cond:
            self._closed = True
        self.set(False)

    def running_time(self) -> float:
        """The clock with frozen time left out (the live frame clock reads this)."""
        with self._cond:
            paused = self.frozen_total_s + (self._now() - self._frozen_at if self._frozen else 0.0)
        return self._now() - paused

    def hold(self) -> bool:
        """Wait while frozen; False once the gate is closed (the show is stopping: render nothing more)."""
        try:
            self._hold()
        finally:
            self._holding = False
        return not self._closed

    def _hold(self) -> None:
        while True:
            with self._cond:
                if not self._frozen:
                    return
                self._holding = True
                self._cond.wait(self._idle_s)
                if not self._frozen:
                    return
            try:
                self.idle()
            except Exception:  # the held picture is still on every output: report, keep holding
                log.exception("refreshing the frozen frame failed")


class FreezableClock:
    """The session's frame clock: waits at the gate, then asks the real clock."""

    def __init__(self, inner: Clock, gate: FreezeGate) -> None:
        self.inner = inner
        self.gate = gate

    def tick(self, frame_index: int) -> tuple[float, float]:
        if not self.gate.hold():
            raise StopRendering(f"frame {frame_index}: the show stopped")
        return self.inner.tick(frame_index)


class Performer:
    """Blackout, freeze and panic for one session (master is a parameter: `store.set("master", x)`)."""

    def __init__(self, session: LiveSession, stage: MasterStage, gate: FreezeGate) -> None:
        self.session = session
        self.stage = stage
        self.gate = gate
        self.panics = 0
        gate.idle = self._refresh_held

    @property
    def blackout_on(self) -> bool:
        return self.stage.blackout.on

    @property
    def frozen(self) -> bool:
        return self.gate.frozen

    def set_master(self, level: float, *, source: str = "live") -> bool:
        return self.session.store.set("master", level, source=source)

    def blackout(self, on: bool | None = None) -> bool:
        """Fade to black (on), back (off), or toggle (None), over the current `blackout_fade_s`. Returns the state."""
        now = not self.blackout_on if on is None else on
        fade_s = float(self.session.store.target("blackout_fade_s"))
        self.stage.switch_blackout(now, fade_s)
        log.info("blackout %s (fade %.2g s)", "on" if now else "off", fade_s)
        return now

    def freeze(self, on: bool | None = None) -> bool:
        """Hold the picture (on), resume (off) or toggle (None). Returns the state."""
        state = self.gate.set(not self.frozen if on is None else on)
        log.info("freeze %s", "on" if state else "off")
        return state

    def panic(self) -> None:
        """Back to the playing preset at once: live overrides released, live LFOs gone, freeze ended."""
        self.panics += 1
        self.session.presets.recall_now()
        self.gate.set(False)
        log.warning("panic: preset %r recalled, live overrides released, live LFOs cleared",
                    self.session.preset.name)

    def _refresh_held(self) -> None:
        self.stage.refresh(float(self.session.store.target("master")))

    def status(self) -> str:
        flags = [name for name, on in (("BLACKOUT", self.blackout_on), ("FROZEN", self.frozen)) if on]
        return " ".join(flags)
