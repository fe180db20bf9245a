"""The render thread as a long-lived worker: the warm-up and the frames run on one and the same thread.

CUDA graph trees (torch.compile's "reduce-overhead") are thread-local: graphs recorded on one
thread are recorded again by the first calls on another, with a memory pool of their own. A
warm-up on the main thread followed by frames on a new render thread would re-record every graph
in the show's first frames (a stall on stage) and hold two pools. So the engine hands its warm-up
(`call`, which waits) and then its render loop (`submit`) to this one thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

from vj.engine.cpu_threads import claim_the_render_cores

R = TypeVar("R")
log = logging.getLogger(__name__)


class RenderWorker:
    """One thread, started on first use, that runs the jobs handed to it in order."""

    def __init__(self, name: str = "render") -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def call(self, fn: Callable[[], R]) -> R:
        """Run `fn` on the render thread and wait for it; its result, or its exception raised here."""
        if threading.current_thread() is self._thread:
            return fn()
        result: list[R] = []
        error: list[BaseException] = []

        def job() -> None:
            try:
                result.append(fn())
            except BaseException as err:  # handed to the caller's thread
                error.append(err)

        self.submit(job).wait()
        if error:
            raise error[0]
        return result[0]

    def submit(self, fn: Callable[[], None]) -> threading.Event:
        """Run `fn` on the render thread; returns an event set when it has returned or raised."""
        done = threading.Event()

        def job() -> None:
            try:
                fn()
            finally:
                done.set()

        if self._thread is None or not self._thread.is_alive():
            self._jobs = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._serve, args=(self._jobs,), name=self.name, daemon=True)
            self._thread.start()
        self._jobs.put(job)
        return done

    def close(self) -> None:
        """End the thread once its jobs are done (a later job starts a new thread with a queue of its own)."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None

    @staticmethod
    def _serve(jobs: queue.SimpleQueue[Callable[[], None] | None]) -> None:
        claim_the_render_cores()
        while (job := jobs.get()) is not None:
            try:
                job()
            except Exception:  # a submitted job's own error: the thread serves the next one
                log.exception("render thread job failed")
