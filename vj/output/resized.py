"""One output at its own size: the show-wide picture resized on a thread of its own, on the host.

The device makes one size for the whole show (vj.engine.output_geometry) and copies it out once.
An output that needs another (a small preview on the laptop, a 720p NDI feed beside a 1080p
projector) gets it here, so only that output pays for the second resize, and never on the render
side: `offer` only swaps a one-frame mailbox, and the resize runs on this wrapper's thread.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Protocol

import numpy as np
import torch

from vj.frames import Frame
from vj.output.pacing import LatestFrame
from vj.output_size import Fit, OutputSize, Resample
from vj.picture_fit import fit_picture

log = logging.getLogger(__name__)


class Output(Protocol):
    def start(self) -> None: ...
    def offer(self, frame: Frame) -> None: ...
    def close(self) -> None: ...
    def status(self) -> str: ...


def resize_image(image: np.ndarray, size: tuple[int, int], fit: Fit,
                 resample: Resample = Resample.BILINEAR) -> np.ndarray:
    """A uint8 (H, W, 3) picture at `size` (width, height), on the host."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    chw = torch.from_numpy(image).permute(2, 0, 1)[None].to(torch.float32)
    fitted = fit_picture(chw, size, fit, resample)  # linear in the value: 0..255 as well as 0..1
    return fitted[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).contiguous().numpy()


class ResizedOutput:
    """`output` fed each frame at `spec.size`, resized on this wrapper's own thread."""

    def __init__(self, output: Output, spec: OutputSize) -> None:
        self.output = output
        self.spec = spec
        self._mailbox = LatestFrame()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.resized = 0
        self.errors = 0

    def start(self) -> None:
        self.output.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"vj-resize-{self.spec.output}", daemon=True)
        self._thread.start()

    def offer(self, frame: Frame) -> None:
        self._mailbox.put(frame)
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        self.output.close()

    def status(self) -> str:
        return self.output.status()

    @property
    def dropped(self) -> int:
        return int(getattr(self.output, "dropped", 0)) + self._mailbox.stale_dropped

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            frame, fresh = self._mailbox.take()
            if frame is None or not fresh:
                continue
            try:
                image = resize_image(frame.image, self.spec.size, self.spec.fit)
            except Exception:  # an output never stops the show
                self.errors += 1
                log.exception("%s: resizing a frame to %dx%d failed", self.spec.output, *self.spec.size)
                continue
            self.resized += 1
            # The device's in-betweens are at the show's size: this output blends its own resized frames instead.
            self.output.offer(dataclasses.replace(frame, image=image, in_betweens=()))
