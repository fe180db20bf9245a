"""What the benchmark scripts time with: percentiles and waiting for the GPU."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a timer read right after it sees the work done)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile by linear interpolation between the nearest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
