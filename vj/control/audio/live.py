"""The live audio path: an input's blocks -> the analysis thread -> the audio modulators (and a take).

The input's callback only appends to a bounded queue (the oldest block is dropped, and
counted, if the analysis ever falls that far behind). The `vj-audio` thread analyses each
block and steps the modulators; the render thread only reads the values they leave.
Listeners (a take recording the sound) get every block with its capture time.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from vj.control.audio.analysis import BandAnalyser
from vj.control.audio.inputs import AudioInput
from vj.control.audio.modulators import AudioModulators

log = logging.getLogger(__name__)

BlockListener = Callable[[np.ndarray, float], None]


class AudioReactor:
    """A session Control: starts the input, runs the analysis thread, stops both on close."""

    def __init__(self, source: AudioInput, modulators: AudioModulators, queue_blocks: int = 64) -> None:
        self.source = source
        self.modulators = modulators
        self.analyser = BandAnalyser(modulators.analysis, source.rate)
        self._queue: deque[tuple[np.ndarray, float]] = deque()
        self._max = queue_blocks
        self._cv = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._listeners: list[BlockListener] = []
        self.blocks = 0
        self.dropped = 0
        self.errors = 0

    def add_listener(self, listener: BlockListener) -> None:
        self._listeners.append(listener)

    def _deliver(self, samples: np.ndarray, t: float) -> None:
        with self._cv:
            if len(self._queue) >= self._max:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append((samples, t))
            self._cv.notify()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="vj-audio", daemon=True)
        self._thread.start()
        self.source.start(self._deliver)

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stop:
                    self._cv.wait()
                if self._stop and not self._queue:
                    return
                samples, t = self._queue.popleft()
            try:
                self.process(samples, t)
            except Exception:  # an I/O thread: log, count, carry on
                self.errors += 1
                log.exception("audio block not analysed")

    def process(self, samples: np.ndarray, t: float) -> None:
        """One block: analyse, step the modulators, hand it to the listeners."""
        if self.analyser.config != self.modulators.analysis:  # a preset switch changed the band layout
            self.analyser = BandAnalyser(self.modulators.analysis, self.source.rate)
        features = self.analyser.push(samples)
        self.modulators.step(features, len(samples) / self.source.rate)
        self.blocks += 1
        for listener in self._listeners:
            listener(samples, t)

    def close(self) -> None:
        self.source.close()
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(2.0)

    def status(self) -> str:
        drops = f" drop {self.dropped}" if self.dropped else ""
        return f"{self.modulators.status()}{drops}"
