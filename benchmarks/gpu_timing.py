"""Per-stage timing for benchmarks/gpu_loop.py: CUDA events around the backend's calls.

Events are recorded on the stream as the calls are queued and read once after the run, so
timing adds no host synchronisation to the frames it measures. On a CPU every call is
synchronous and the host clock is the stage time.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch

# Backend method → stage name. `denoise_fn` returns the per-step model function, timed per call.
TIMED_CALLS = {"encode_image": "encode", "decode": "decode", "predict_noise": "unet"}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile by linear interpolation between the nearest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class StageEvents:
    """Start/end marks per named call: CUDA events on a GPU, host clock readings elsewhere."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self._marks: list[tuple[str, Any, Any]] = []

    def clear(self) -> None:
        self._marks.clear()

    def timed(self, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            if self.cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                out = call(*args, **kwargs)
                end.record()
                self._marks.append((name, start, end))
                return out
            begin = time.perf_counter()
            out = call(*args, **kwargs)
            self._marks.append((name, begin, time.perf_counter()))
            return out

        return run

    def mean_ms(self, frames: int) -> dict[str, float]:
        """Milliseconds per frame in each stage (calls summed: 2 steps are 2 UNet calls)."""
        if self.cuda:
            torch.cuda.synchronize()
        totals: dict[str, float] = defaultdict(float)
        for name, start, end in self._marks:
            totals[name] += start.elapsed_time(end) if self.cuda else (end - start) * 1000
        return {name: total / max(frames, 1) for name, total in totals.items()}


class TimedBackend:
    """The backend with its model calls timed; every other attribute is the backend's own."""

    def __init__(self, backend: Any, events: StageEvents) -> None:
        self._backend = backend
        self._events = events

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._backend, name)
        if name in TIMED_CALLS:
            return self._events.timed(TIMED_CALLS[name], value)
        if name == "denoise_fn":
            return lambda *args, **kwargs: self._events.timed("unet", value(*args, **kwargs))
        return value
