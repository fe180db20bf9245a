"""3D camera warp of the previous frame (Deforum's 3D mode), on the model's device.

Every pixel is a point (x·W/H, y, z): x, y its normalised position in [-1, 1] (pixel centres,
align_corners=False), x scaled by the aspect W/H so that both are in units of half the frame's
height, and z its depth, in Deforum's units (translation / 200). A perspective camera (field
of view `fov`, aspect W/H, looking down +z) projects a point (X, Y, Z) to normalised
(X / (tan(fov/2)·aspect·Z), Y / (tan(fov/2)·Z)). On a square frame this is Deforum's warp
exactly; on a wide one Deforum's own (x, y) points would make a roll shear and a flight zoom
more in y than in x, so the x scale keeps every move the same in pixels at any aspect.

The camera then moves: each point becomes P·R + T (row vectors) with R = Rx·Ry·Rz and
T = (−tx/200, +ty/200, −tz/200). The change of a pixel's projection is its motion, and each
output pixel reads the previous frame at its own position minus that motion (Deforum's
convention, from Disco Diffusion). Conventions, as in Deforum: +translation_x moves the
camera right (content left), +translation_y moves content down, +translation_z flies forward
(nearer pixels grow faster), +rotation_3d_x tilts the content down, +rotation_3d_y pans it
left, +rotation_3d_z rolls it counter-clockwise.

Depth: `depth` is z per pixel (larger = farther), e.g. `z_from_nearness` of a depth
model's estimate (vj.engine.warp.depth_estimator); without one the frame is a flat plane at z = 1,
Deforum's own fallback. `near` and `far` (Deforum units, 200 = 1) bound z: a pixel nearer
than `near` is pushed back to it, one beyond `far` joins a flat backdrop there. At Deforum's
defaults (200, 10000) they change nothing, as in Deforum, where they only set z_ndc.

Nothing here reads the device: the rotation is nine Python floats, the projection is
elementwise maths with Python scalars, and the pixel grid is built once per device and size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch

from vj.choices import BorderMode, SamplingMode
from vj.engine.warp.grid_sample import border_mode, sample_grid, sampling_mode

DEFORUM_UNITS = 200.0  # Deforum divides translations (and here near/far) by 200
MIN_Z = 1e-4  # points that move behind the camera would flip: pin them just in front

Rows = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]


@dataclass(frozen=True, slots=True)
class Camera3D:
    """Camera motion for one output frame (already scaled to the frames elapsed)."""

    translation_x: float = 0.0
    translation_y: float = 0.0
    translation_z: float = 0.0
    rotation_x_deg: float = 0.0
    rotation_y_deg: float = 0.0
    rotation_z_deg: float = 0.0
    fov_deg: float = 70.0
    near: float = 200.0
    far: float = 10_000.0

    def scaled(self, frames: float) -> Camera3D:
        return Camera3D(self.translation_x * frames, self.translation_y * frames, self.translation_z * frames,
                        self.rotation_x_deg * frames, self.rotation_y_deg * frames, self.rotation_z_deg * frames,
                        self.fov_deg, self.near, self.far)

    def is_identity(self) -> bool:
        return not any((self.translation_x, self.translation_y, self.translation_z, self.rotation_x_deg,
                        self.rotation_y_deg, self.rotation_z_deg))

    @property
    def z_range(self) -> tuple[float, float]:
        lo, hi = sorted((self.near / DEFORUM_UNITS, self.far / DEFORUM_UNITS))
        return lo, hi


def _matmul(a: Rows, b: Rows) -> Rows:
    return tuple(tuple(sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)) for i in range(3))  # type: ignore[return-value]


def rotation_rows(rx_deg: float, ry_deg: float, rz_deg: float) -> Rows:
    """R = Rx·Ry·Rz (the "XYZ" Euler convention) as Python floats, applied to row vectors as P·R."""
    def axis(name: str, degrees: float) -> Rows:
        c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
        if name == "x":
            return ((1.0, 0.0, 0.0), (0.0, c, -s), (0.0, s, c))
        if name == "y":
            return ((c, 0.0, s), (0.0, 1.0, 0.0), (-s, 0.0, c))
        return ((c, -s, 0.0), (s, c, 0.0), (0.0, 0.0, 1.0))

    return _matmul(_matmul(axis("x", rx_deg), axis("y", ry_deg)), axis("z", rz_deg))


def rotation_matrix(rx_deg: float, ry_deg: float, rz_deg: float) -> torch.Tensor:
    """`rotation_rows` as a float64 CPU tensor (for checks; the warp itself uses the floats)."""
    return torch.tensor(rotation_rows(rx_deg, ry_deg, rz_deg), dtype=torch.float64)


@lru_cache(maxsize=16)
def pixel_grid(width: int, height: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised pixel centres (x, y), each [H, W] float32 on `device`; built once per size."""
    xs = (torch.arange(width, device=device, dtype=torch.float32) * 2 + 1) / width - 1
    ys = (torch.arange(height, device=device, dtype=torch.float32) * 2 + 1) / height - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return grid_x, grid_y


def z_from_nearness(nearness: torch.Tensor, weight: float) -> torch.Tensor:
    """Depth z from a normalised nearness map d in [0, 1] (1 = nearest): z = 1 + weight·(1 − d).

    weight 1 is Deforum's mapping for inverse-depth models (z = 2 − d); weight 0 is the flat
    plane; in between it blends the estimate toward the plane, as Deforum's midas_weight
    blends MiDaS with a second estimate.
    """
    return (1.0 - nearness).mul(weight).add(1.0)


def sampling_grid_3d(camera: Camera3D, width: int, height: int, depth: torch.Tensor | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """The [1, H, W, 2] `grid_sample` grid for one camera move (align_corners=False)."""
    dev = torch.device(device) if depth is None else depth.device
    grid_x, grid_y = pixel_grid(width, height, dev)
    lo, hi = camera.z_range
    if depth is None:
        z = torch.full_like(grid_x, min(max(1.0, lo), hi))
    else:
        if depth.numel() != width * height:
            raise ValueError(f"depth must hold {height}x{width} values, found shape {tuple(depth.shape)}")
        z = depth.reshape(height, width).float().clamp(lo, hi)
    r = rotation_rows(camera.rotation_x_deg, camera.rotation_y_deg, camera.rotation_z_deg)
    t = (-camera.translation_x / DEFORUM_UNITS, camera.translation_y / DEFORUM_UNITS,
         -camera.translation_z / DEFORUM_UNITS)
    tan_half = math.tan(math.radians(camera.fov_deg) / 2)
    aspect = width / height
    kx, ky = tan_half * aspect, tan_half
    # The point's x in the same unit as its y (half the frame's height): a wide frame shows more
    # of the scene, not a stretched one, so rolls, pans and flights look alike at any aspect.
    world_x = grid_x * aspect

    def moved(j: int) -> torch.Tensor:  # column j of P·R + T
        return world_x * r[0][j] + grid_y * r[1][j] + z * r[2][j] + t[j]

    new_z = moved(2).clamp(min=MIN_Z)
    offset_x = moved(0) / (new_z * kx) - world_x / (z * kx)
    offset_y = moved(1) / (new_z * ky) - grid_y / (z * ky)
    return torch.stack([grid_x - offset_x, grid_y - offset_y], dim=-1).unsqueeze(0)


def warp_3d(image: torch.Tensor, camera: Camera3D, border: str = BorderMode.REPLICATE,
            depth: torch.Tensor | None = None, sampling: str = SamplingMode.BILINEAR) -> torch.Tensor:
    """Warp an NCHW float image by a camera move; `depth` is z per pixel, [H, W] or [1, 1, H, W]."""
    mode, interpolation = border_mode(border), sampling_mode(sampling)
    if camera.is_identity():
        return image
    n, _, h, w = image.shape
    grid = sampling_grid_3d(camera, w, h, depth, image.device).expand(n, h, w, 2)
    return sample_grid(image, grid, mode, interpolation)
