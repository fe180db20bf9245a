"""Fixed-rate output pacing, decoupled from how fast the engine generates frames.

The virtual camera and the live recorder both run at the output rate (the preset's fps by
default). Every tick they send the newest frame; when the engine has produced nothing new
since the last tick they send the last frame again (hold), and frames that were replaced
before a tick came round are dropped, never queued (a queue would only add latency).

The maths lives in `Pacer` and `LatestFrame`, which take the time as an argument, so the
tests drive them with a fake clock instead of sleeping. `PacedOutput` is the thread that
puts them together around a `send(frame, fresh)` callback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from vj.frames import Frame

log = logging.getLogger(__name__)

Clock = Callable[[], float]

STATUS_ERROR_CHARS = 48  # longer open errors show only their type on the status line


@dataclass(frozen=True, slots=True)
class PaceStep:
    """What a paced output should do at `now_s`."""

    send: bool  # a tick is due: send a frame now
    wait_s: float  # time until the next tick is due
    skipped: int  # ticks missed because we woke up late (skipped, not sent in a burst)
    tick: int  # index of the tick being sent (meaningful when `send`)


class Pacer:
    """Ticks at `fps` on an absolute schedule (no drift from sleep jitter).

    Ticks are due at `start_s + k / fps`. If the caller wakes up more than one period late
    the missed ticks are skipped and counted instead of being sent back to back: a burst of
    repeated frames would only make the output stutter twice.
    """

    def __init__(self, fps: float, start_s: float) -> None:
        if not fps > 0:
            raise ValueError(f"output fps must be > 0, found {fps!r}")
        self.fps = float(fps)
        self.period_s = 1.0 / self.fps
        self._start_s = float(start_s)
        self._next_tick = 0
        self.ticks = 0
        self.skipped = 0

    def due_at(self, tick: int) -> float:
        return self._start_s + tick * self.period_s

    @property
    def next_due_s(self) -> float:
        return self.due_at(self._next_tick)

    def poll(self, now_s: float) -> PaceStep:
        due = self.next_due_s
        if now_s < due:
            return PaceStep(False, due - now_s, 0, self._next_tick)
        # Which tick's slot are we in? Everything before it is missed.
        current = int((now_s - self._start_s) / self.period_s)
        current = max(current, self._next_tick)
        skipped = current - self._next_tick
        self._next_tick = current + 1
        self.ticks += 1
        self.skipped += skipped
        return PaceStep(True, max(self.next_due_s - now_s, 0.0), skipped, current)


class LatestFrame:
    """A one-frame mailbox: the producer overwrites, the paced consumer takes the newest.

    A frame overwritten before anyone took it is stale and counted in `stale_dropped`.
    `take` returns the last frame again (fresh=False) when nothing new arrived: the hold.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._fresh = False
        self.received = 0
        self.stale_dropped = 0

    def put(self, frame: Frame) -> None:
        with self._lock:
            if self._fresh:
                self.stale_dropped += 1
            self._frame = frame
            self._fresh = True
            self.received += 1

    offer = put  # FrameSink protocol

    def note(self) -> str:
        """What the output's status line adds about its mailbox (a plain one: nothing)."""
        return ""

    def take(self) -> tuple[Frame | None, bool]:
        with self._lock:
            fresh = self._fresh
            self._fresh = False
            return self._frame, fresh


@dataclass(slots=True)
class PaceCounters:
    sent: int = 0
    repeated: int = 0
    skipped_ticks: int = 0
    errors: int = 0


class PacedOutput:
    """A named thread that calls `send(frame, fresh)` once per tick at `fps`.

    `offer(frame)` never blocks (it only swaps the mailbox), so the render thread can feed
    it directly. Ticks before the first frame send nothing. An exception from `send` is
    logged, counted and the thread carries on: an output never stops the show.
    `clock` and `wait` are injectable so tests can run the loop without real time.
    `on_exit` runs on the thread when it ends (GUI toolkits must close a window on its own thread).
    """

    def __init__(self, name: str, fps: float, send: Callable[[Frame, bool], None], *,
                 clock: Clock = time.monotonic, wait: Callable[[threading.Event, float], object] | None = None,
                 on_exit: Callable[[], None] | None = None) -> None:
        self.name = name
        self._on_exit = on_exit
        self.fps = float(fps)
        self._send = send
        self._clock = clock
        self._wait = wait or (lambda event, seconds: event.wait(seconds))
        self.mailbox = LatestFrame()
        self.counters = PaceCounters()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.pacer: Pacer | None = None
        self.tick = 0  # index of the tick being sent, counted from the thread's start (timestamps)
        self.start_s: float | None = None  # when tick 0 is due (set by start(), before the thread runs)

    def offer(self, frame: Frame) -> None:
        self.mailbox.put(frame)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self.start_s = self._clock()  # known at once, so a producer can place frames on the tick grid
        self._thread = threading.Thread(target=self._thread_main, name=self.name, daemon=True)
        self._thread.start()

    def _thread_main(self) -> None:
        try:
            self.run()
        finally:
            if self._on_exit is not None:
                self._on_exit()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("%s: output thread did not stop within %.1f s", self.name, timeout_s)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self, max_ticks: int | None = None) -> None:
        """The pacing loop (runs on the thread; tests call it directly with `max_ticks`)."""
        self.pacer = Pacer(self.fps, self.start_s if self.start_s is not None else self._clock())
        done = 0
        while not self._stop.is_set():
            step = self.pacer.poll(self._clock())
            if not step.send:
                self._wait(self._stop, step.wait_s)
                continue
            self.counters.skipped_ticks += step.skipped
            self.tick = step.tick
            self.step_once()
            done += 1
            if max_ticks is not None and done >= max_ticks:
                return

    def step_once(self) -> None:
        """One tick: send the newest frame, or the last one again."""
        frame, fresh = self.mailbox.take()
        if frame is None:
            return
        try:
            self._send(frame, fresh)
        except Exception:  # an output must never take the show down
            self.counters.errors += 1
            log.exception("%s: sending a frame failed (error %d); holding on", self.name, self.counters.errors)
            return
        self.counters.sent += 1
        if not fresh:
            self.counters.repeated += 1


class OpenRetry:
    """When a paced output may try to open its device again, and whether a failure is news.

    A missing device (no v4l2loopback, no NDI network) must not be retried every tick nor
    logged every tick: it is tried again after `retry_s`, and a failure is worth a log line
    only the first time or when its message changes.
    """

    def __init__(self, retry_s: float, clock: Callable[[], float]) -> None:
        self.retry_s = retry_s
        self._clock = clock
        self._failed_at: float | None = None
        self.failures = 0
        self.last_error = ""

    def due(self) -> bool:
        return self._failed_at is None or self._clock() - self._failed_at >= self.retry_s

    def failed(self, err: BaseException) -> bool:
        """Record a failed open; True when its message is new and should be logged."""
        self._failed_at = self._clock()
        self.failures += 1
        message = f"{type(err).__name__}: {err}"
        news = self.failures == 1 or message != self.last_error
        self.last_error = message
        return news

    def lost(self) -> None:
        """The device went away mid-show: wait `retry_s` before opening it again."""
        self._failed_at = self._clock()

    def succeeded(self) -> None:
        self._failed_at = None
        self.last_error = ""


class ReportsOpenRetry:
    """The retry state a device output shows in its status: mixed into outputs that open
    their device through an `OpenRetry` kept as `self._retry`."""

    _retry: OpenRetry

    @property
    def retry_s(self) -> float:
        return self._retry.retry_s

    @property
    def open_failures(self) -> int:
        return self._retry.failures

    @property
    def last_error(self) -> str:
        return self._retry.last_error

    def unavailable_status(self, kind: str) -> str:
        """The status while the device cannot be opened: one short line, every second.

        The full error and what to do were logged once when it first failed; here a long
        message is cut to its type, so the status line stays readable on a console.
        """
        error = self.last_error.splitlines()[0] if self.last_error else "no device"
        if len(error) > STATUS_ERROR_CHARS:
            error = f"{error.split(':', 1)[0]}, see the log"
        return f"{kind} unavailable ({error}), retrying every {self.retry_s:g} s"
