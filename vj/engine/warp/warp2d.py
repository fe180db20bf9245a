"""2D warp of the previous frame with Deforum's conventions, on the model's device.

Deforum (and OpenCV) build M = R·T in pixel space: translate by (tx, ty), then rotate by
`angle` degrees and scale by `zoom` about the pivot (cx·W, cy·H); each output pixel p is
read from the previous frame at M⁻¹·p. So zoom > 1 zooms in, +tx moves content right, +ty
moves it down and +angle turns it counter-clockwise on screen. Here M⁻¹ is carried into
`grid_sample`'s normalised coordinates (align_corners=False: -1 and +1 are the outer pixel
edges), which keeps the whole warp on the GPU.

The six numbers of M⁻¹ are plain host floats. On an accelerator they reach the device as
kernel arguments of the multiply-adds that turn a cached base grid into this frame's grid,
so a frame's warp makes no host→device copy; on the CPU there is nothing to copy and
`affine_grid` builds the grid as it always has.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vj.choices import BorderMode
from vj.engine.device_constants import device_constant
from vj.engine.warp.grid_sample import border_mode, sample_grid


@dataclass(frozen=True, slots=True)
class Motion2D:
    """Motion for one output frame (already scaled to the frames elapsed)."""

    zoom: float = 1.0
    angle_deg: float = 0.0
    translation_x: float = 0.0
    translation_y: float = 0.0
    center_x: float = 0.5
    center_y: float = 0.5

    def is_identity(self) -> bool:
        return self.zoom == 1.0 and self.angle_deg == 0.0 and self.translation_x == 0.0 and self.translation_y == 0.0

    def scaled(self, frames: float) -> Motion2D:
        """Deforum motion is per frame at the reference fps; `frames` may be fractional live."""
        return Motion2D(
            zoom=self.zoom**frames,
            angle_deg=self.angle_deg * frames,
            translation_x=self.translation_x * frames,
            translation_y=self.translation_y * frames,
            center_x=self.center_x,
            center_y=self.center_y,
        )


Affine = tuple[tuple[float, float, float], tuple[float, float, float]]  # the top two rows of a 3×3


def _compose(a: Affine, b: Affine) -> Affine:
    """a·b for affine maps (apply b, then a)."""
    (a00, a01, a02), (a10, a11, a12) = a
    (b00, b01, b02), (b10, b11, b12) = b
    return ((a00 * b00 + a01 * b10, a00 * b01 + a01 * b11, a00 * b02 + a01 * b12 + a02),
            (a10 * b00 + a11 * b10, a10 * b01 + a11 * b11, a10 * b02 + a11 * b12 + a12))


def _invert(a: Affine) -> Affine:
    (a00, a01, a02), (a10, a11, a12) = a
    det = a00 * a11 - a01 * a10
    i00, i01, i10, i11 = a11 / det, -a01 / det, -a10 / det, a00 / det
    return ((i00, i01, -(i00 * a02 + i01 * a12)), (i10, i11, -(i10 * a02 + i11 * a12)))


def _deforum_affine(motion: Motion2D, width: int, height: int) -> Affine:
    theta = math.radians(motion.angle_deg)
    alpha = motion.zoom * math.cos(theta)
    beta = motion.zoom * math.sin(theta)
    cx, cy = motion.center_x * width, motion.center_y * height
    rotate: Affine = ((alpha, beta, (1 - alpha) * cx - beta * cy), (-beta, alpha, beta * cx + (1 - alpha) * cy))
    translate: Affine = ((1.0, 0.0, motion.translation_x), (0.0, 1.0, motion.translation_y))
    return _compose(rotate, translate)


def deforum_matrix(motion: Motion2D, width: int, height: int) -> torch.Tensor:
    """The 3×3 pixel-space matrix M = R·T that maps previous-frame points to output points."""
    top, middle = _deforum_affine(motion, width, height)
    return torch.tensor([top, middle, (0.0, 0.0, 1.0)], dtype=torch.float64)


def sampling_theta(motion: Motion2D, width: int, height: int) -> Affine:
    """The 2×3 `affine_grid` matrix: normalised output coords → normalised source coords.

    Plain float maths on the host (float64, like the torch version it replaced): a frame's
    warp then costs one small tensor, not a chain of tiny host-side tensor ops and inverses.
    """
    to_norm: Affine = ((2.0 / width, 0.0, 1.0 / width - 1.0), (0.0, 2.0 / height, 1.0 / height - 1.0))
    pixel_map = _deforum_affine(motion, width, height)
    return _compose(_compose(to_norm, _invert(pixel_map)), _invert(to_norm))


def _base_xy(height: int, width: int, device: torch.device) -> torch.Tensor:
    """[2, H, W]: the normalised x and y of every output pixel, as `affine_grid` computes them."""
    def build() -> torch.Tensor:
        identity = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        return F.affine_grid(identity, [1, 1, height, width], align_corners=False)[0].permute(2, 0, 1).contiguous()

    return device_constant(("warp_base_xy", height, width), device, torch.float32, build)


def affine_sampling_grid(theta: Affine, height: int, width: int, device: torch.device) -> torch.Tensor:
    """The [1, H, W, 2] grid of `affine_grid(theta)`, from host floats (no tensor leaves the host)."""
    x, y = _base_xy(height, width, device).unbind(0)
    (a00, a01, a02), (a10, a11, a12) = theta
    gx = torch.add(x * a00, y, alpha=a01).add_(a02)
    gy = torch.add(x * a10, y, alpha=a11).add_(a12)
    return torch.stack((gx, gy), dim=-1).unsqueeze(0)


def warp_2d_fn(motion: Motion2D, border: str = BorderMode.REPLICATE) -> Callable[[torch.Tensor], torch.Tensor]:
    """`warp_2d` with this motion, the grid built once per image size (cadence warps two images)."""
    mode = border_mode(border)
    grids: dict[tuple[int, int, torch.device], torch.Tensor] = {}

    def warp(image: torch.Tensor) -> torch.Tensor:
        if motion.is_identity():
            return image
        n, _, h, w = image.shape
        key = (h, w, image.device)
        grid = grids.get(key)
        if grid is None:
            theta = sampling_theta(motion, w, h)
            if image.device.type == "cpu":  # no transfer to avoid: affine_grid's own numbers, as ever
                grid = F.affine_grid(torch.tensor([theta], dtype=torch.float32), [1, 1, h, w], align_corners=False)
            else:
                grid = affine_sampling_grid(theta, h, w, image.device)
            grids[key] = grid
        return sample_grid(image, grid.expand(n, h, w, 2), mode)

    return warp


def warp_2d(image: torch.Tensor, motion: Motion2D, border: str = BorderMode.REPLICATE) -> torch.Tensor:
    """Warp an NCHW float image. `border`: replicate, reflect or wrap (tiles the plane)."""
    return warp_2d_fn(motion, border)(image)
