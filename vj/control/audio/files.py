"""A sound file decoded with PyAV (wav, mp3, flac, ogg, anything FFmpeg reads) into float samples.

Offline renders analyse the whole track frame by frame; the live file-backed input plays it
block by block. A file that cannot be read is one `VjError` line naming it and what was expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vj.errors import VjError


@dataclass(frozen=True, slots=True)
class AudioTrack:
    """Interleaved float32 samples, shape (n, channels), at `rate` Hz."""

    samples: np.ndarray
    rate: int
    source: str = ""

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate

    def frame_count(self, fps: float) -> int:
        """Video frames that cover the whole track at `fps` (the last one may be partly silent)."""
        return max(1, math.ceil(len(self.samples) * fps / self.rate - 1e-9))

    def frame_bounds(self, index: int, fps: float) -> tuple[int, int]:
        """Sample range [start, stop) of video frame `index`: frame-exact, no drift over a long render."""
        return round(index * self.rate / fps), round((index + 1) * self.rate / fps)

    def frame_samples(self, index: int, fps: float) -> np.ndarray:
        """The samples under frame `index`; past the end, silence of the same length."""
        start, stop = self.frame_bounds(index, fps)
        part = self.samples[start:stop]
        if len(part) < stop - start:
            part = np.concatenate([part, np.zeros((stop - start - len(part), self.channels), np.float32)])
        return part


def load_track(path: str | Path, what: str = "--audio") -> AudioTrack:
    """Decode the first audio stream of `path` to float32 at its own rate, mono or stereo."""
    import av  # here, not at import: `vj run --preview` must load OpenCV before PyAV (their X libraries clash)

    p = Path(path)
    if not p.is_file():
        raise VjError(f"{what} {path}: no such file (expected a sound file: wav, mp3, flac, ...)")
    try:
        with av.open(str(p)) as container:
            if not container.streams.audio:
                raise VjError(f"{what} {path}: the file has no audio stream (expected a sound file)")
            stream = container.streams.audio[0]
            layout = "mono" if stream.channels == 1 else "stereo"
            resampler = av.AudioResampler(format="flt", layout=layout, rate=stream.rate)
            chunks = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
            rate = int(stream.rate)
    except (av.FFmpegError, OSError, ValueError) as err:
        raise VjError(f"{what} {path}: could not decode it ({err}); expected a sound file FFmpeg reads") from err
    channels = 1 if layout == "mono" else 2
    flat = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    samples = flat.reshape(-1, channels).astype(np.float32, copy=False)
    if len(samples) == 0:
        raise VjError(f"{what} {path}: the audio stream is empty (expected at least one sample)")
    return AudioTrack(samples, rate, str(p))


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """16-bit PCM WAV (tests, examples): `samples` float in -1..1, (n,) or (n, channels)."""
    import wave

    a = np.asarray(samples, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a
    pcm = (np.clip(a, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(a.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())
