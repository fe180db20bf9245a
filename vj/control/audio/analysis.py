"""Block analysis of sound: band levels, overall level, onsets and a tempo estimate (numpy only).

`BandAnalyser.push(samples)` takes the newest mono samples (any block length: a sound-card
block live, one video frame's worth offline) and returns the `AudioFeatures` at their end:

- band levels from the FFT of the newest `window` samples (Hann), as the RMS of the band's
  content in dBFS (a full-scale sine is 0 dB), mapped from `floor_db`..0 onto 0..1;
- onsets from the spectral flux of the newest block alone (rectangular, zero-padded), so an
  onset lands on the block that holds the attack, never one later: the rise of log magnitude
  over the previous block, compared with `onset_threshold` times its recent mean;
- a tempo estimate from the median interval of the recent onsets, folded into 70..180 BPM.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from vj.config_audio import AnalysisConfig

FLUX_FLOOR = 0.02  # an onset in silence still needs this much flux (noise and dither stay below)
FLUX_MEAN_S = 0.5  # the time constant of the flux's running mean the threshold multiplies
MIN_BPM, MAX_BPM = 70.0, 180.0


@dataclass(frozen=True, slots=True)
class AudioFeatures:
    """What one block of sound gives the modulators (levels 0..1)."""

    bands: dict[str, float]
    level: float
    flux: float
    onset: bool
    bpm: float | None = None

    def source(self, name: str) -> float:
        if name == "level":
            return self.level
        if name == "onset":
            return 1.0 if self.onset else 0.0
        return self.bands[name]


def mono(samples: np.ndarray) -> np.ndarray:
    """(n,) or (n, channels) float samples as one float32 channel (the mean)."""
    a = np.asarray(samples, dtype=np.float32)
    return a if a.ndim == 1 else a.mean(axis=1, dtype=np.float32)


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


class BandAnalyser:
    """Stateful: keeps the last `window` samples and the previous block's spectrum between pushes."""

    def __init__(self, config: AnalysisConfig, sample_rate: int) -> None:
        if sample_rate < 2 * config.band_edges[1] or sample_rate <= 0:
            raise ValueError(f"sample rate {sample_rate} Hz is too low for bands from {config.band_edges[0]:g} Hz")
        self.config = config
        self.sample_rate = int(sample_rate)
        n = config.window
        self._buffer = np.zeros(n, dtype=np.float32)
        self._hann = np.hanning(n).astype(np.float32)
        # A band's power from a Hann spectrum (Parseval), relative to a full-scale sine's (0 dBFS)
        self._power_scale = 4.0 / (n * n * float(np.mean(self._hann ** 2)))
        freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
        self._band_bins = [(int(np.searchsorted(freqs, lo)), int(np.searchsorted(freqs, hi)))
                           for lo, hi in zip(config.band_edges, config.band_edges[1:], strict=False)]
        self._floor_db = config.floor_db
        self._last_log_mag: np.ndarray | None = None
        self._flux_mean = 0.0
        self._since_onset_s = math.inf
        self._onset_times: deque[float] = deque(maxlen=9)
        self._bpm: float | None = None
        self._time_s = 0.0
        self.blocks = 0

    def _to_unit(self, rms_power: float) -> float:
        db = 10.0 * math.log10(max(rms_power, 1e-20))
        return min(max((db - self._floor_db) / -self._floor_db, 0.0), 1.0)

    def push(self, samples: np.ndarray) -> AudioFeatures:
        block = mono(samples)
        n = len(block)
        if n == 0:
            raise ValueError("an audio block needs at least one sample")
        window = self.config.window
        if n >= window:
            self._buffer[:] = block[-window:]
        else:
            self._buffer[:-n] = self._buffer[n:]
            self._buffer[-n:] = block
        spectrum = np.fft.rfft(self._buffer * self._hann)
        power = (spectrum.real ** 2 + spectrum.imag ** 2) * self._power_scale
        bands = {name: self._to_unit(float(power[lo:hi].sum()))
                 for name, (lo, hi) in zip(self.config.band_names, self._band_bins, strict=True)}
        level = self._to_unit(float(np.mean(block.astype(np.float64) ** 2)) * 2.0)
        flux = self._flux(block)
        dt = n / self.sample_rate
        self._time_s += dt
        self._since_onset_s += dt
        onset = (flux > self.config.onset_threshold * self._flux_mean + FLUX_FLOOR
                 and self._since_onset_s * 1000.0 >= self.config.onset_min_ms)
        if onset:
            self._since_onset_s = 0.0
            self._onset_times.append(self._time_s)
            self._bpm = self.bpm()  # only an onset changes it
        self._flux_mean += (1.0 - math.exp(-dt / FLUX_MEAN_S)) * (flux - self._flux_mean)
        self.blocks += 1
        return AudioFeatures(bands, level, flux, onset, self._bpm)

    def _flux(self, block: np.ndarray) -> float:
        """Mean rise of log magnitude over the previous block, on the newest samples only."""
        size = max(_next_pow2(len(block)), 256)
        mag = np.abs(np.fft.rfft(block, size)) * (2.0 / max(len(block), 1))
        log_mag = np.log10(1.0 + 1000.0 * mag)
        last = self._last_log_mag
        if last is None or len(last) != len(log_mag):  # the first block rises from silence
            last = np.zeros_like(log_mag)
        self._last_log_mag = log_mag
        return float(np.maximum(log_mag - last, 0.0).mean())

    def bpm(self) -> float | None:
        """Tempo from the median interval of the recent onsets (None until four of them agree)."""
        times = self._onset_times
        if len(times) < 4:
            return None
        intervals = np.diff(np.asarray(times))
        beat = float(np.median(intervals))
        if beat <= 0 or np.mean(np.abs(intervals - beat) < 0.1 * beat) < 0.5:
            return None
        bpm = 60.0 / beat
        while bpm < MIN_BPM:
            bpm *= 2.0
        while bpm > MAX_BPM:
            bpm /= 2.0
        return bpm
