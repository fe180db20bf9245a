"""An audio stream beside the video in a recording (AAC), fed float blocks on the writer's thread.

Timestamps count samples (time base 1/rate) from the video's start, so picture and sound
share one clock: offline the track is cut frame-exactly at 1/fps; live each block carries the
time it was captured, on the take's clock. A block that would go back in time is trimmed.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np

AUDIO_CODEC = "aac"


class AudioStreamWriter:
    """Adds an audio stream to an open container and muxes the blocks written to it."""

    def __init__(self, container: Any, rate: int, channels: int, codec: str = AUDIO_CODEC) -> None:
        if channels not in (1, 2):
            raise ValueError(f"audio channels: expected 1 or 2, found {channels}")
        self.container = container
        self.rate = int(rate)
        self.layout = "mono" if channels == 1 else "stereo"
        self.channels = channels
        self.stream = container.add_stream(codec, rate=self.rate)
        self.stream.layout = self.layout
        self.next_pts = 0  # the first sample not yet written
        self.samples_written = 0

    def write(self, samples: np.ndarray, pts: int | None = None) -> None:
        """Encode `samples` ((n,) or (n, channels), float -1..1) starting at sample `pts` (default: right after)."""
        block = np.asarray(samples, dtype=np.float32)
        block = block[:, None] if block.ndim == 1 else block
        if block.shape[1] != self.channels:
            block = (np.repeat(block.mean(axis=1, keepdims=True), self.channels, axis=1) if block.shape[1] != 1
                     else np.repeat(block, self.channels, axis=1))
        start = self.next_pts if pts is None else int(pts)
        if start < self.next_pts:  # overlaps what is written: keep only the new part
            block = block[self.next_pts - start:]
            start = self.next_pts
        if len(block) == 0:
            return
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block).reshape(1, -1), format="flt",
                                           layout=self.layout)
        frame.sample_rate = self.rate
        frame.pts = start
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.next_pts = start + len(block)
        self.samples_written += len(block)

    def finish(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)

    def release(self) -> None:
        """Drop the stream and container once the file is closed (the counts stay readable)."""
        self.stream = self.container = None
