"""Fitting a picture to a screen of another size (vj.output_size's `Fit`), in torch on the picture's own device.

Shared by the engine's output geometry (on the device, before the one copy out) and a per-output
size (on the host, on that output's thread); the integer placement is vj.output_size's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vj.output_size import Fit, Resample, placement


def fit_picture(image: torch.Tensor, size: tuple[int, int], fit: Fit = Fit.FIT,
                resample: Resample = Resample.BILINEAR) -> torch.Tensor:
    """A [N, C, H, W] float picture fitted to `size` (width, height), on the picture's own device."""
    src = (int(image.shape[3]), int(image.shape[2]))
    if src == size:
        return image
    where = placement(src, size, fit)
    scaled = image
    if (where.width, where.height) != src:
        corners = {"align_corners": False} if resample in (Resample.BILINEAR, Resample.BICUBIC) else {}
        scaled = F.interpolate(image, size=(where.height, where.width), mode=resample.value, **corners)
    width, height = size
    if where.left > 0 or where.top > 0:  # fit: black bars round the picture
        right, bottom = width - where.width - where.left, height - where.height - where.top
        return F.pad(scaled, (where.left, right, where.top, bottom))
    left, top = -where.left, -where.top  # fill: the centre of the overflowing picture
    return scaled[..., top:top + height, left:left + width]
