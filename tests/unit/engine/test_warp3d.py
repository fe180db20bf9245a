"""The 3D camera warp: Deforum's conventions on synthetic images."""

from __future__ import annotations

import pytest
import torch

from vj.engine.warp.warp3d import Camera3D, rotation_matrix, sampling_grid_3d, warp_3d

W = H = 64


def blob(x: int, y: int) -> torch.Tensor:
    img = torch.zeros(1, 3, H, W)
    img[:, :, y - 2:y + 3, x - 2:x + 3] = 1.0
    return img


def centroid(img: torch.Tensor) -> tuple[float, float]:
    weights = img[0, 0]
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32),
                            indexing="ij")
    total = weights.sum()
    return float((weights * xs).sum() / total), float((weights * ys).sum() / total)


def moved(camera: Camera3D, x: int = 32, y: int = 32) -> tuple[float, float]:
    cx, cy = centroid(warp_3d(blob(x, y), camera))
    bx, by = centroid(blob(x, y))
    return cx - bx, cy - by


def test_camera_right_moves_content_left_and_ty_moves_it_down() -> None:
    dx, dy = moved(Camera3D(translation_x=10))
    assert dx < -1 and abs(dy) < 0.1
    dx, dy = moved(Camera3D(translation_y=10))
    assert dy > 1 and abs(dx) < 0.1


def test_translation_matches_the_projection_formula() -> None:
    # Flat depth z = 1: shift in NDC = tx/200 / (tan(fov/2)·aspect); in pixels ×W/2.
    import math

    dx, _ = moved(Camera3D(translation_x=20, fov_deg=90))
    expected = -(20 / 200) / math.tan(math.radians(45)) * W / 2
    assert dx == pytest.approx(expected, abs=0.3)


def test_forward_flight_zooms_in_about_the_centre() -> None:
    dx, dy = moved(Camera3D(translation_z=20), x=44, y=32)
    assert dx > 0.5 and abs(dy) < 0.1  # a point right of centre moves further right
    dx, dy = moved(Camera3D(translation_z=-20), x=44, y=32)
    assert dx < -0.5


def test_rotations_pan_tilt_and_roll() -> None:
    dx, _ = moved(Camera3D(rotation_y_deg=3))
    assert dx < -1  # pan: content moves left
    _, dy = moved(Camera3D(rotation_x_deg=3))
    assert dy > 1  # tilt: content moves down
    dx, dy = moved(Camera3D(rotation_z_deg=10), x=48, y=32)
    assert dy < -1  # roll: a point right of centre goes up, counter-clockwise as the 2D angle


def test_identity_and_bad_border() -> None:
    img = torch.rand(1, 3, 8, 8)
    assert warp_3d(img, Camera3D()) is img
    with pytest.raises(ValueError, match="border"):
        warp_3d(img, Camera3D(translation_x=1), "mirror")


def test_rotation_matrix_is_orthonormal_and_grid_is_identity_at_rest() -> None:
    r = rotation_matrix(10, 20, 30)
    assert torch.allclose(r @ r.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
    grid = sampling_grid_3d(Camera3D(fov_deg=50), 16, 8)
    assert grid.shape == (1, 8, 16, 2)
    assert grid[0, 0, 0].tolist() == pytest.approx([-15 / 16, -7 / 8])


def test_a_nearer_depth_moves_more() -> None:
    near = torch.full((H, W), 0.5)
    far = torch.full((H, W), 2.0)
    img = blob(32, 32)
    near_dx = centroid(warp_3d(img, Camera3D(translation_x=10), depth=near))[0] - 32
    far_dx = centroid(warp_3d(img, Camera3D(translation_x=10), depth=far))[0] - 32
    assert near_dx < far_dx < 0
