"""Surviving a device out-of-memory mid-show: hold the last frame, free memory, undo the change, go on.

A GPU that runs out of memory in a frame after the show has started is not a broken stage: it is a
change that asked for more than the device has (a bigger size from a preset switch) or a passing peak
(another process, fragmentation). The frame is dropped — the outputs keep the last good one, and the
frame still in flight in the pipelined publish is discarded, not published — the caches the engine can
rebuild are let go (and CUDA's cached blocks), and the change that caused it is undone where one can be
named: the size goes back to the last one a frame was published at, and a depth estimator's input
resolution that a preset switch raised goes back to the one it had then. With nothing left to undo, the
loop waits before the next try, doubling the wait up to a bound, so a device that stays full is tried
at a bounded rate instead of spun on. Every OOM and every undo is counted, logged and put on the status
line. Only before the first good frame is it fatal (nothing on stage to hold, nothing proven to fit):
the render loop raises its own clear message then.

The changes a frame boundary can bring that add memory are the size, the depth resolution and a model
switch (vj.engine.model_swap): while its crossfade runs the old model is still held, and an OOM then
switches back to it and releases the new one (the switch back is recorded in the take).
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.25  # the wait before the first retry with nothing to undo
MAX_BACKOFF_S = 4.0  # the longest wait between tries while the device stays full


class _OomStats(Protocol):
    frames: int
    oom: int
    oom_undone: int
    oom_note: str
    last_error: str


class _DepthSettings(Protocol):
    resolution: int
    every_n: int
    ema: float

    def request_settings(self, *, resolution: int, every_n: int, ema: float) -> None: ...


class Recoverable(Protocol):
    """What recovery asks of the engine, all on the render thread between two frames."""

    width: int
    height: int

    @property
    def stats(self) -> _OomStats: ...

    @property
    def good_size(self) -> tuple[int, int] | None:
        """(width, height) of the last frame handed to the outputs; None before the first."""

    @property
    def depth_estimators(self) -> tuple[_DepthSettings, ...]:
        """The depth estimators a frame runs (the 3D warp's, a depth ControlNet's)."""

    def release_after_oom(self) -> int:
        """Discard the frames in flight, let go of the rebuildable caches; how many frames were discarded."""

    def resize_now(self, width: int, height: int) -> None:
        """Change the size at once (the render thread is between frames)."""

    def undo_model_switch(self) -> str | None:
        """Back to the model a switch replaced, while it is still held; what was done, in words, else None."""


class OomRecovery:
    """The render loop's answer to `torch.cuda.OutOfMemoryError` after the first good frame."""

    def __init__(self, engine: Recoverable) -> None:
        self.engine = engine
        self._backoff_s = FIRST_BACKOFF_S
        self._frames_at_last_oom = -1
        self._in_a_row = 0  # OOMs with no good frame between them
        self._good_frames = 0
        self._good_depth: tuple[int, ...] = ()  # the depth resolutions when the last good frame was out

    def frame_done(self) -> None:
        """After a frame that did not fail: note what the outputs were last fed with (what an undo returns to)."""
        stats = self.engine.stats
        if stats.frames > self._good_frames:
            self._good_frames = stats.frames
            self._good_depth = tuple(e.resolution for e in self.engine.depth_estimators)

    def survive(self, err: BaseException, stop: threading.Event) -> None:
        """Count it, free memory, undo what grew since the last good frame, else wait before the next try."""
        engine, stats = self.engine, self.engine.stats
        if stats.frames > self._frames_at_last_oom:  # a good frame came out since the last OOM
            self._backoff_s = FIRST_BACKOFF_S
            self._in_a_row = 0
        self._frames_at_last_oom = stats.frames
        self._in_a_row += 1
        stats.oom += 1
        at = (engine.width, engine.height)
        discarded = engine.release_after_oom()
        _empty_device_cache()
        undone = self._undo(at)
        if undone:
            stats.oom_undone += 1
            note = f"out of memory at {at[0]}x{at[1]}: undone, " + ", ".join(undone)
            log.warning("%s (holding the last frame; %d in flight discarded; %s)", note, discarded, err)
        else:
            wait_s = self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, MAX_BACKOFF_S)
            note = f"out of memory at {at[0]}x{at[1]}: nothing to undo, holding the last frame, retrying"
            log.warning("%s in %.2f s (%d in a row without a frame; %d in flight discarded; %s)", note, wait_s,
                        self._in_a_row, discarded, err)
            stop.wait(wait_s)
        stats.oom_note = note
        stats.last_error = f"OutOfMemoryError: {note}"

    def _undo(self, at: tuple[int, int]) -> list[str]:
        """Put back what grew since the last good frame; what was put back, in words."""
        undone = []
        model = self.engine.undo_model_switch()
        if model is not None:
            undone.append(model)
        good = self.engine.good_size
        if good is not None and good != at:
            self.engine.resize_now(*good)
            undone.append(f"size back to {good[0]}x{good[1]}")
        for estimator, resolution in zip(self.engine.depth_estimators, self._good_depth, strict=False):
            if estimator.resolution > resolution:  # a lower one frees memory: only a raise is a cause
                estimator.request_settings(resolution=resolution, every_n=estimator.every_n, ema=estimator.ema)
                undone.append(f"depth resolution back to {resolution}")
        return undone


def _empty_device_cache() -> None:
    """Give CUDA's cached, unused blocks back (a no-op without CUDA in use)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
