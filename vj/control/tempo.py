"""Tempo: a beat clock fed by tap tempo, MIDI clock or a set BPM, and beat-quantised changes.

All times are seconds on one monotonic time base (`time.perf_counter` live, the engine's
frame time offline). The beat clock is a straight line beats(t) = anchor_beat +
(t - anchor_t) * bpm / 60; a tempo change re-anchors at the current position so the beat
phase never jumps, and a tap or a MIDI clock pulse pulls the phase onto the performer's beat.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from vj.choices import Quantise

log = logging.getLogger(__name__)

MIN_BPM = 20.0
MAX_BPM = 300.0
CLOCK_PPQN = 24  # MIDI clock pulses per quarter note


@dataclass(frozen=True, slots=True)
class BeatState:
    """The beat as a frame or an LFO sees it."""

    bpm: float
    beat: float  # beats since the clock's origin (fractional)
    phase: float  # 0..1 within the current beat
    bar: int
    beat_in_bar: int
    playing: bool


class TempoClock:
    """Thread-safe beat clock. Writers: tap tempo, MIDI clock, `/vj/bpm`; readers: LFOs, quantiser."""

    def __init__(self, bpm: float = 120.0, beats_per_bar: int = 4,
                 now: Callable[[], float] = time.perf_counter) -> None:
        if not MIN_BPM <= bpm <= MAX_BPM:
            raise ValueError(f"bpm: expected {MIN_BPM:g}..{MAX_BPM:g}, found {bpm!r}")
        if beats_per_bar < 1:
            raise ValueError(f"beats_per_bar: expected >= 1, found {beats_per_bar!r}")
        self.now = now
        self.beats_per_bar = beats_per_bar
        self._lock = threading.Lock()
        self._bpm = float(bpm)
        self._anchor_t = 0.0
        self._anchor_beat = 0.0
        self._playing = True
        self.source = "preset"
        self._tap = TapTempo()
        self._midi = MidiClockTracker()
        # Set while an outside clock (Ableton Link) owns the beat phase: taps and MIDI start
        # then only change the tempo, which the follower proposes to that clock.
        self.phase_locked = False
        self._bpm_listeners: list[Callable[[float, str], None]] = []

    @property
    def bpm(self) -> float:
        return self._bpm

    def beat_at(self, t: float) -> float:
        with self._lock:
            return self._anchor_beat + (t - self._anchor_t) * self._bpm / 60.0

    def time_of_beat(self, beat: float) -> float:
        with self._lock:
            return self._anchor_t + (beat - self._anchor_beat) * 60.0 / self._bpm

    def state(self, t: float | None = None) -> BeatState:
        t = self.now() if t is None else t
        beat = self.beat_at(t)
        whole = math.floor(beat)
        return BeatState(self._bpm, beat, beat - whole, int(whole // self.beats_per_bar),
                         int(whole % self.beats_per_bar), self._playing)

    def set_bpm(self, bpm: float, t: float | None = None, *, source: str = "set") -> bool:
        """Change tempo keeping the current beat position; False (nothing changes) if out of range."""
        if isinstance(bpm, bool) or not isinstance(bpm, (int, float)) or not math.isfinite(bpm):
            return False
        if not MIN_BPM <= bpm <= MAX_BPM:
            return False
        t = self.now() if t is None else t
        with self._lock:
            self._anchor_beat = self._anchor_beat + (t - self._anchor_t) * self._bpm / 60.0
            self._anchor_t = t
            self._bpm = float(bpm)
            self.source = source
        for listener in self._bpm_listeners:
            listener(float(bpm), source)
        return True

    def on_bpm_change(self, listener: Callable[[float, str], None]) -> None:
        """Call `listener(bpm, source)` after every accepted `set_bpm` (Link proposes vj's tempo changes)."""
        self._bpm_listeners.append(listener)

    def follow(self, bpm: float, beat: float, t: float, source: str) -> None:
        """Take tempo and beat position from an outside clock: beat `beat` is at time `t` (no listeners)."""
        with self._lock:
            self._bpm = min(max(float(bpm), MIN_BPM), MAX_BPM)
            self._anchor_beat = float(beat)
            self._anchor_t = t
            self.source = source

    def align_beat(self, t: float, beat: float | None = None) -> None:
        """Put a beat boundary at `t` (a tap, a MIDI clock quarter note): nearest whole beat, or `beat`."""
        if self.phase_locked:
            return
        with self._lock:
            current = self._anchor_beat + (t - self._anchor_t) * self._bpm / 60.0
            self._anchor_beat = float(round(current)) if beat is None else float(beat)
            self._anchor_t = t

    def next_boundary(self, t: float, quantise: Quantise, lookahead_s: float = 0.0) -> float:
        """Time of the next beat/bar boundary after `t` (minus lookahead); `t` itself when OFF."""
        step = quantise.beats(self.beats_per_bar)
        if step <= 0.0:
            return t
        beat = self.beat_at(t + lookahead_s)
        target = (math.floor(beat / step + 1e-9) + 1) * step
        return self.time_of_beat(target) - lookahead_s

    # ------------------------------------------------------------------ sources
    def tap(self, t: float | None = None) -> float | None:
        """A tap (note, OSC `/vj/tap`): once two taps agree, sets the BPM and puts a beat on the tap."""
        t = self.now() if t is None else t
        bpm = self._tap.tap(t)
        if bpm is not None:
            self.set_bpm(bpm, t, source="tap")
        self.align_beat(t)
        return bpm

    def midi_clock(self, kind: str, t: float | None = None) -> None:
        """MIDI realtime message: 'clock', 'start', 'stop' or 'continue'."""
        t = self.now() if t is None else t
        if kind == "clock":
            bpm, quarter = self._midi.pulse(t)
            if bpm is not None:
                self.set_bpm(max(MIN_BPM, min(MAX_BPM, bpm)), t, source="midi clock")
            if quarter is not None and self._midi.running:
                self.align_beat(t, float(quarter))
        elif kind == "start":
            self._midi.start()
            self._playing = True
            self.align_beat(t, 0.0)
        elif kind == "stop":
            self._midi.stop()
            self._playing = False
        elif kind == "continue":
            self._midi.resume()
            self._playing = True

    @property
    def playing(self) -> bool:
        return self._playing

    def status(self) -> str:
        return f"{self._bpm:.1f} bpm ({self.source})"


class TapTempo:
    """BPM from taps: mean of the last intervals; a pause longer than `reset_s` starts over.

    An interval far from the running mean (a missed or double tap) restarts the average at
    that interval instead of dragging it.
    """

    def __init__(self, max_taps: int = 8, reset_s: float = 2.0) -> None:
        self._times: deque[float] = deque(maxlen=max_taps)
        self._reset_s = reset_s

    def tap(self, t: float) -> float | None:
        if self._times and t - self._times[-1] > self._reset_s:
            self._times.clear()
        if self._times and t <= self._times[-1]:
            return None  # out-of-order or duplicate tap
        if len(self._times) >= 2:
            mean = (self._times[-1] - self._times[0]) / (len(self._times) - 1)
            interval = t - self._times[-1]
            if abs(interval - mean) > 0.3 * mean:
                last = self._times[-1]
                self._times.clear()
                self._times.append(last)
        self._times.append(t)
        if len(self._times) < 2:
            return None
        mean = (self._times[-1] - self._times[0]) / (len(self._times) - 1)
        bpm = 60.0 / mean
        return bpm if MIN_BPM <= bpm <= MAX_BPM else None


class MidiClockTracker:
    """BPM from 24-ppqn MIDI clock: slope over a window of pulses, then a light exponential smoothing.

    The window (two beats) averages away per-pulse jitter from USB and the OS scheduler; a
    tempo change still shows within about a beat. Pulses more than a second apart restart
    the window (the clock source paused).
    """

    def __init__(self, window_pulses: int = 2 * CLOCK_PPQN, smoothing: float = 0.2) -> None:
        self._times: deque[float] = deque(maxlen=window_pulses)
        self._smoothing = smoothing
        self._bpm: float | None = None
        self._pulses = 0
        self.running = False

    @property
    def bpm(self) -> float | None:
        return self._bpm

    def pulse(self, t: float) -> tuple[float | None, int | None]:
        """Returns (smoothed bpm or None, quarter-note count when this pulse starts a beat)."""
        if self._times and t - self._times[-1] > 1.0:
            self._times.clear()
        self._times.append(t)
        quarter = None
        if self.running:
            if self._pulses % CLOCK_PPQN == 0:
                quarter = self._pulses // CLOCK_PPQN
            self._pulses += 1
        if len(self._times) < CLOCK_PPQN // 2:
            return self._bpm, quarter
        interval = (self._times[-1] - self._times[0]) / (len(self._times) - 1)
        if interval <= 0:
            return self._bpm, quarter
        raw = 60.0 / (CLOCK_PPQN * interval)
        self._bpm = raw if self._bpm is None else self._bpm + self._smoothing * (raw - self._bpm)
        return self._bpm, quarter

    def start(self) -> None:
        self._pulses = 0
        self.running = True

    def stop(self) -> None:
        self.running = False

    def resume(self) -> None:
        self.running = True


class Quantiser:
    """Runs discrete changes (prompt, preset, seed switches) on the next beat or bar.

    One named daemon thread waits on a heap of due times; with quantise OFF the change runs at
    once on the caller's thread. Callbacks only write into the ParamStore or ask the session
    for a preset switch, so they are quick; an exception in one is logged and counted.
    """

    def __init__(self, tempo: TempoClock, mode: Quantise = Quantise.OFF, lookahead_s: float = 0.0) -> None:
        self.tempo = tempo
        self.mode = mode
        self.lookahead_s = lookahead_s
        self._heap: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.ran = 0
        self.errors = 0

    def submit(self, fn: Callable[[], object], mode: Quantise | None = None) -> float:
        """Run `fn` at the next boundary of `mode` (default: this quantiser's mode). Returns the due time."""
        mode = self.mode if mode is None else mode
        now = self.tempo.now()
        if mode is Quantise.OFF:
            self._run(fn)
            return now
        due = self.tempo.next_boundary(now, mode, self.lookahead_s)
        return self.submit_at(due, fn)

    def submit_at(self, due: float, fn: Callable[[], object]) -> float:
        """Run `fn` at time `due` on the tempo clock's time base (future OSC bundle timetags)."""
        with self._cv:
            heapq.heappush(self._heap, (due, next(self._seq), fn))
            self._ensure_thread()
            self._cv.notify()
        return due

    def pending(self) -> int:
        with self._cv:
            return len(self._heap)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop = False
            self._thread = threading.Thread(target=self._loop, name="vj-quantiser", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stop and (not self._heap or self._heap[0][0] > self.tempo.now()):
                    timeout = None if not self._heap else max(0.0, self._heap[0][0] - self.tempo.now())
                    self._cv.wait(timeout)
                if self._stop:
                    return
                _, _, fn = heapq.heappop(self._heap)
            self._run(fn)

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            fn()
            self.ran += 1
        except Exception:  # a control callback must never take the quantiser thread down
            self.errors += 1
            log.exception("quantised change failed")

    def close(self, timeout_s: float = 1.0) -> None:
        with self._cv:
            self._stop = True
            self._heap.clear()
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
