"""3D camera warp of the previous frame (Deforum's 3D mode), on the model's device.

The maths follows Deforum's `anim_frame_warp_3d` (from Disco Diffusion): every pixel is a
point (x, y, z) with x, y its normalised position in [-1, 1] and z its depth; it is
projected through a perspective camera (field of view `fov`, aspect W/H) before and after
the camera moves by T = (−tx/200, +ty/200, −tz/200) and turns by R = Rx·Ry·Rz (row vectors,
X·R + T); the difference of the two projections is the pixel's motion, and each output
pixel reads the previous frame at its position minus that motion. Conventions, as in
Deforum: +translation_x moves the camera right (content left), +translation_y moves content
down, +translation_z flies forward, +rotation_3d_x tilts the content down, +rotation_3d_y
pans it left, +rotation_3d_z rolls it counter-clockwise.

Depth: no depth-estimation weights can be loaded in this project's test environment, so
the depth is a flat plane (z = 1, Deforum's own fallback for a missing or flat depth map).
Rotations and forward flight then behave as a perspective homography; per-pixel parallax
needs a depth map, which `warp_3d` accepts as a tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vj.engine.warp_sampling import border_mode, sample_grid
from vj.registry import BorderMode


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

    def scaled(self, frames: float) -> Camera3D:
        return Camera3D(self.translation_x * frames, self.translation_y * frames, self.translation_z * frames,
                        self.rotation_x_deg * frames, self.rotation_y_deg * frames, self.rotation_z_deg * frames,
                        self.fov_deg)

    def is_identity(self) -> bool:
        return not any((self.translation_x, self.translation_y, self.translation_z, self.rotation_x_deg,
                        self.rotation_y_deg, self.rotation_z_deg))


def rotation_matrix(rx_deg: float, ry_deg: float, rz_deg: float) -> torch.Tensor:
    """R = Rx·Ry·Rz (the "XYZ" Euler convention), applied to row vectors as X·R."""
    def axis(name: str, degrees: float) -> torch.Tensor:
        c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
        if name == "x":
            return torch.tensor([[1.0, 0, 0], [0, c, -s], [0, s, c]], dtype=torch.float64)
        if name == "y":
            return torch.tensor([[c, 0, s], [0, 1.0, 0], [-s, 0, c]], dtype=torch.float64)
        return torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1.0]], dtype=torch.float64)

    return axis("x", rx_deg) @ axis("y", ry_deg) @ axis("z", rz_deg)


def _project(points: torch.Tensor, tan_half_fov: float, aspect: float) -> torch.Tensor:
    z = points[..., 2:3].clamp(min=1e-4)  # points behind the camera would flip: pin them just in front
    scale = torch.tensor([1.0 / (tan_half_fov * aspect), 1.0 / tan_half_fov], dtype=points.dtype,
                         device=points.device)
    return points[..., :2] / z * scale


def sampling_grid_3d(camera: Camera3D, width: int, height: int, depth: torch.Tensor | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """The [1, H, W, 2] `grid_sample` grid for one camera move (align_corners=False)."""
    xs = (torch.arange(width, device=device, dtype=torch.float32) * 2 + 1) / width - 1
    ys = (torch.arange(height, device=device, dtype=torch.float32) * 2 + 1) / height - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    z = torch.ones_like(grid_x) if depth is None else depth.to(device=device, dtype=torch.float32).view(height, width)
    points = torch.stack([grid_x, grid_y, z], dim=-1)
    rotation = rotation_matrix(camera.rotation_x_deg, camera.rotation_y_deg, camera.rotation_z_deg)
    translation = torch.tensor([-camera.translation_x / 200, camera.translation_y / 200,
                                -camera.translation_z / 200], dtype=torch.float64)
    tan_half = math.tan(math.radians(camera.fov_deg) / 2)
    aspect = width / height
    moved = points @ rotation.to(device=device, dtype=torch.float32) + translation.to(device=device,
                                                                                     dtype=torch.float32)
    offset = _project(moved, tan_half, aspect) - _project(points, tan_half, aspect)
    identity = torch.stack([grid_x, grid_y], dim=-1)
    return (identity - offset).unsqueeze(0)


def warp_3d(image: torch.Tensor, camera: Camera3D, border: str = BorderMode.REPLICATE,
            depth: torch.Tensor | None = None) -> torch.Tensor:
    """Warp an NCHW float image by a camera move; `depth` is [H, W] (z, larger = farther)."""
    mode = border_mode(border)
    if camera.is_identity():
        return image
    n, _, h, w = image.shape
    grid = sampling_grid_3d(camera, w, h, depth, image.device).expand(n, h, w, 2)
    return sample_grid(image, grid, mode)
