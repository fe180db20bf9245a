"""Ableton Link: the tempo clock follows a Link session, and vj's own tempo changes are proposed to it.

aalink (an optional extra: `pip install 'vj[link]'`) wraps Link for asyncio, so the session
runs on its own thread with its own event loop. Every `poll_s` that thread reads Link's
tempo and beat (quantum = the preset's beats per bar, so bar 1 lands where every peer's bar
does) and re-anchors the `TempoClock` on them; LFOs and the quantiser read that clock, so they
ride Link's grid. A tempo set in vj (tap, `/vj/bpm`, MIDI clock) is committed to the session;
the next poll brings it back from Link, as the peers hear it. While Link runs the clock is
phase-locked: a tap changes the tempo but not the phase (Link owns it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from vj.control.tempo import MAX_BPM, MIN_BPM, TempoClock
from vj.errors import VjError

log = logging.getLogger(__name__)

LINK_SOURCE = "link"
INSTALL_HINT = "pip install 'vj[link]'"


def require_aalink() -> None:
    """Raise one clear line when the optional package is missing (checked before a model loads)."""
    try:
        import aalink  # noqa: F401
    except ImportError as err:
        raise VjError(f"Ableton Link (--link, [modulators] link) needs the aalink package: {INSTALL_HINT} "
                      f"({err})") from err


class LinkSync:
    """A session Control: joins Link on start, leaves it on close; `status()` says `link N peers`."""

    def __init__(self, tempo: TempoClock, *, poll_s: float = 0.005) -> None:
        require_aalink()
        self.tempo = tempo
        self.poll_s = poll_s
        self._link: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self.proposed = 0
        tempo.on_bpm_change(self._propose)

    @property
    def peers(self) -> int:
        link = self._link
        return int(link.num_peers) if link is not None else 0

    @property
    def link_bpm(self) -> float | None:
        link = self._link
        return float(link.tempo) if link is not None else None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vj-link", daemon=True)
        self._thread.start()
        if not self._ready.wait(5.0) or self.error is not None:
            raise VjError(f"Ableton Link could not start: {self.error or 'no answer within 5 s'}")
        log.info("Ableton Link joined (quantum %d beats, %g bpm)", self.tempo.beats_per_bar, self.tempo.bpm)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._session())
        except Exception as err:  # never leave start() waiting; the show goes on at its own tempo
            self.error = err
            log.exception("Ableton Link stopped")
        finally:
            self.tempo.phase_locked = False
            self._ready.set()
            loop.close()

    async def _session(self) -> None:
        import aalink

        link = aalink.Link(self.tempo.bpm)  # binds to the running loop (this thread's)
        link.quantum = float(self.tempo.beats_per_bar)
        link.enabled = True
        self._link = link
        self.tempo.phase_locked = True
        self._ready.set()
        try:
            while not self._stop.is_set():
                self._pull(link)
                await asyncio.sleep(self.poll_s)
        finally:
            link.enabled = False
            self._link = None

    def _pull(self, link: Any) -> None:
        """Re-anchor the tempo clock on Link's beat, read between two clock readings (their mean)."""
        before = self.tempo.now()
        beat = float(link.beat)
        after = self.tempo.now()
        self.tempo.follow(float(link.tempo), beat, (before + after) / 2.0, LINK_SOURCE)

    def _propose(self, bpm: float, source: str) -> None:
        link = self._link
        # A preset's bpm is vj's own default, not a performer's act: a preset switch must never move the
        # tempo of the band's Link session (it could land while a switch to a Link preset is joining).
        if link is None or source in (LINK_SOURCE, "preset") or not MIN_BPM <= bpm <= MAX_BPM:
            return
        link.tempo = float(bpm)
        self.proposed += 1
        log.info("tempo %.1f bpm (%s) proposed to the Link session", bpm, source)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None

    def status(self) -> str:
        return f"link {self.peers} peers"
