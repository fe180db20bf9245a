"""Blending two uint8 pictures by a weight, in fixed point: the same sums on the device (torch) and the host (numpy).

Shared by the engine's publish step (in-betweens made on the device, vj.engine.publish) and the
outputs' host blend (vj.output.frame_blend). Fixed point, 7 bits of weight: int16 holds 255 x 128
without overflow, and 1/128 steps are below a grey level of difference.
"""

from __future__ import annotations

import numpy as np
import torch

WEIGHT_ONE = 128  # alpha 1.0 in fixed point


def blend_weight(alpha: float) -> int:
    """alpha in [0, 1] as a weight 0..WEIGHT_ONE."""
    return int(round(min(max(alpha, 0.0), 1.0) * WEIGHT_ONE))


def blend_pictures(older: torch.Tensor, newer: torch.Tensor, weight: int, out: torch.Tensor | None = None
                   ) -> torch.Tensor:
    """uint8 pictures (any shape, one device): (older·(128-w) + newer·w + 64) / 128, rounded, as uint8.

    Without `out`, a weight of 0 or 128 returns `older` or `newer` itself; with `out`, it is always written."""
    if older.shape != newer.shape:
        raise ValueError(f"cannot blend pictures of shapes {tuple(older.shape)} and {tuple(newer.shape)}")
    if weight <= 0 or weight >= WEIGHT_ONE:
        chosen = older if weight <= 0 else newer
        return chosen if out is None else out.copy_(chosen)
    mixed = older.to(torch.int16).mul_(WEIGHT_ONE - weight)
    mixed.add_(newer.to(torch.int16).mul_(weight)).add_(WEIGHT_ONE // 2).bitwise_right_shift_(7)
    if out is None:
        return mixed.to(torch.uint8)
    return out.copy_(mixed)


def blend_images(older: np.ndarray, newer: np.ndarray, weight: int) -> np.ndarray:
    """`blend_pictures` on host arrays, the same sums in numpy (several times faster than torch's int16 on a CPU:
    benchmarks/output_rate.py)."""
    if older.shape != newer.shape:
        raise ValueError(f"cannot blend pictures of shapes {older.shape} and {newer.shape}")
    if weight <= 0:
        return older
    if weight >= WEIGHT_ONE:
        return newer
    mixed = older.astype(np.uint16)
    mixed *= WEIGHT_ONE - weight
    part = newer.astype(np.uint16)
    part *= weight
    mixed += part
    mixed += WEIGHT_ONE // 2
    mixed >>= 7
    return mixed.astype(np.uint8)
