"""Generated test sound: click tracks at a known tempo, sine sweeps, tones (numpy)."""

from __future__ import annotations

import numpy as np

RATE = 44100


def click_track(bpm: float, seconds: float, rate: int = RATE, first_s: float = 0.0) -> tuple[np.ndarray, list[float]]:
    """Short decaying 80 Hz + 3 kHz clicks every beat from `first_s`; returns (samples, click times)."""
    x = np.zeros(int(seconds * rate), np.float32)
    n = np.arange(int(0.01 * rate))
    click = (0.6 * np.sin(2 * np.pi * 80 * n / rate) + 0.3 * np.sin(2 * np.pi * 3000 * n / rate)) * np.exp(-n / 120)
    times = []
    t = first_s
    while t < seconds - 0.011:
        i = round(t * rate)
        x[i:i + len(n)] += click.astype(np.float32)
        times.append(i / rate)
        t += 60.0 / bpm
    return x, times


def tone(freq: float, seconds: float, amplitude: float = 0.5, rate: int = RATE) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def sweep(f0: float, f1: float, seconds: float, amplitude: float = 0.5,
          rate: int = RATE) -> tuple[np.ndarray, np.ndarray]:
    """Exponential sine sweep; returns (samples, instantaneous frequency of each sample)."""
    t = np.arange(int(seconds * rate)) / rate
    k = np.log(f1 / f0) / seconds
    phase = 2 * np.pi * f0 * (np.exp(k * t) - 1) / k
    return (amplitude * np.sin(phase)).astype(np.float32), f0 * np.exp(k * t)
