"""Reading an image at a warp's sampling grid: the part the 2D and the 3D warp share.

Grids are `grid_sample`'s normalised coordinates (align_corners=False: -1 and +1 are the
outer pixel edges). The border mode says what a point outside the frame reads: replicate
clamps to the edge pixel, reflect mirrors the frame, wrap tiles the plane (the grid is
folded back into [-1, 1) before sampling, then clamped like replicate at the seam), zeros
reads black (Deforum's 3D padding_mode "zeros"). The sampling mode is the interpolation:
bilinear, bicubic (Deforum's 3D default) or nearest.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vj.choices import BORDER_MODES, SAMPLING_MODES, BorderMode, SamplingMode

_PADDING: dict[BorderMode, str] = {
    BorderMode.REPLICATE: "border",
    BorderMode.REFLECT: "reflection",
    BorderMode.WRAP: "border",
    BorderMode.ZEROS: "zeros",
}


def border_mode(border: str) -> BorderMode:
    """`border` as a `BorderMode`; a ValueError that lists the choices otherwise."""
    try:
        return BorderMode(border)
    except ValueError:
        raise ValueError(f"border must be one of {sorted(BORDER_MODES)}, found {border!r}") from None


def sampling_mode(sampling: str) -> SamplingMode:
    """`sampling` as a `SamplingMode`; a ValueError that lists the choices otherwise."""
    try:
        return SamplingMode(sampling)
    except ValueError:
        raise ValueError(f"sampling must be one of {sorted(SAMPLING_MODES)}, found {sampling!r}") from None


def sample_grid(image: torch.Tensor, grid: torch.Tensor, border: BorderMode,
                sampling: SamplingMode = SamplingMode.BILINEAR) -> torch.Tensor:
    """Read an NCHW image at an [N, H, W, 2] normalised grid."""
    if border is BorderMode.WRAP:
        grid = torch.remainder(grid + 1.0, 2.0) - 1.0
    out = F.grid_sample(image, grid.to(image.dtype), mode=sampling.value, padding_mode=_PADDING[border],
                        align_corners=False)
    if sampling is SamplingMode.BICUBIC:  # cubic weights overshoot at edges: keep images in [0, 1]
        out = out.clamp(0.0, 1.0)
    return out
