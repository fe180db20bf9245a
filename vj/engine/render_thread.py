"""How the render thread keeps the show going: a failing frame is retried, holding the last good one.

Only before the first good frame is a run of failures fatal: then nothing is on stage to
hold, and a stage that fails this many times in a row is broken (a bad model, an impossible
setting), not a passing hiccup. Out-of-memory on the GPU is fatal there too, saying what to lower;
after the first good frame it is survived (vj.engine.oom_recovery).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

import torch

from vj.engine.oom_recovery import OomRecovery, Recoverable
from vj.engine.render_worker import RenderWorker
from vj.errors import FatalRenderError

log = logging.getLogger(__name__)
R = TypeVar("R")

MAX_FAILURES_BEFORE_FIRST_FRAME = 10


class StopRendering(Exception):
    """Raised by a frame clock that was waiting (a frozen show) when the show stopped: that frame is
    not rendered, so the last picture on the outputs and in the take is the one that was held."""


class _Stats(Protocol):
    frames: int
    errors: int
    non_finite: int
    last_error: str
    oom: int
    oom_undone: int
    oom_note: str


class Renders(Recoverable, Protocol):
    """What the policy drives: the engine's frame calls and counters, and what an OOM is survived with."""

    @property
    def stats(self) -> _Stats: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def frame_index(self) -> int: ...

    def render_frame(self) -> object: ...

    def flush(self) -> object: ...


def render_until(engine: Renders, stop: threading.Event, max_frames: int | None) -> None:
    """Render until `stop` is set or `max_frames` frames are out, retrying failed frames."""
    in_a_row = 0
    last_error_log = 0.0
    stats = engine.stats
    oom = OomRecovery(engine)
    while not stop.is_set():
        if max_frames is not None and stats.frames + engine.in_flight >= max_frames:
            engine.flush()  # launch no frame past the last one asked for
            if stats.frames >= max_frames:
                return
            continue
        try:
            non_finite = stats.non_finite
            engine.render_frame()
            oom.frame_done()
            in_a_row = 0
            if stats.non_finite > non_finite and stats.frames == 0:
                in_a_row = stats.non_finite
                if in_a_row >= MAX_FAILURES_BEFORE_FIRST_FRAME:
                    raise FatalRenderError(
                        f"no frame could be rendered: {in_a_row} frames in a row had non-finite pixels "
                        "(NaN or infinity; float16 can overflow in some VAEs: try --dtype bfloat16 or float32)")
        except torch.cuda.OutOfMemoryError as err:
            if stats.frames == 0:  # nothing on stage to hold, and nothing has been shown to fit
                stats.oom += 1
                raise FatalRenderError(
                    f"the GPU ran out of memory at {engine.width}x{engine.height}: lower the resolution or the "
                    f"steps, or use --tiny-vae ({err})") from err
            in_a_row = 0
            with torch.inference_mode():
                oom.survive(err, stop)
        except StopRendering:
            return
        except FatalRenderError:
            raise
        except Exception as err:  # keep the show going: the outputs hold the last good frame
            stats.errors += 1
            stats.last_error = f"{type(err).__name__}: {err}"
            in_a_row += 1
            if stats.frames == 0:
                if in_a_row >= MAX_FAILURES_BEFORE_FIRST_FRAME:
                    raise FatalRenderError(
                        f"no frame could be rendered: the first frame failed {in_a_row} times in a row "
                        f"({stats.last_error}); run with -v for the traceback") from err
                log.debug("frame %d failed before any good frame (%d in a row)", engine.frame_index - 1, in_a_row,
                          exc_info=True)
                if in_a_row == 1:
                    log.warning("the first frame failed (%s); retrying", stats.last_error)
                stop.wait(0.05)
                continue
            now = time.monotonic()
            if now - last_error_log >= 1.0:
                last_error_log = now
                log.exception("frame %d failed (%d errors so far); retrying", engine.frame_index - 1, stats.errors)
            stop.wait(0.05)  # a failing stage must not spin the GPU flat out


class RenderThread:
    """The render thread a run renders on: started, stopped by an Event, waited for with a timeout.

    It is a `RenderWorker`'s thread, so the warm-up handed to `call` before the show runs on the very
    thread that then renders (CUDA graph trees are thread-local). An exception that ends the run is
    kept (`fatal`) for the main thread to surface.
    """

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.fatal: BaseException | None = None
        self._worker = RenderWorker("render")
        self._done: threading.Event | None = None  # set when the run has returned

    def call(self, fn: Callable[[], R]) -> R:
        """Run `fn` on the render thread and wait for its result (the warm-up)."""
        return self._worker.call(fn)

    def start(self, run: Callable[[threading.Event], None]) -> None:
        def target() -> None:
            try:
                run(self.stop_event)
            except BaseException as err:  # surfaced by the owner's fatal_error on the main thread
                self.fatal = err
                log.error("render loop stopped: %s", err)

        self.stop_event.clear()
        self._done = self._worker.submit(target)

    @property
    def running(self) -> bool:
        return self._done is not None and not self._done.is_set()

    def stop(self, timeout_s: float) -> None:
        self.stop_event.set()
        if self._done is not None and not self._done.wait(timeout_s):
            log.warning("render thread did not stop within %.1f s", timeout_s)
        self._worker.close()
