"""The 2D warp on synthetic images: Deforum's conventions at known pixel positions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vj.engine.warp.warp2d import Motion2D, deforum_matrix, warp_2d

W = H = 64


def dot(x: int, y: int) -> torch.Tensor:
    img = torch.zeros(1, 3, H, W)
    img[:, :, y, x] = 1.0
    return img


def brightest(img: torch.Tensor) -> tuple[int, int]:
    flat = int(img[0, 0].argmax())
    return flat % W, flat // W


def test_positive_translation_x_moves_content_right_and_y_down() -> None:
    out = warp_2d(dot(10, 20), Motion2D(translation_x=5, translation_y=3))
    assert brightest(out) == (15, 23)
    assert out[0, 0, 23, 15] == pytest.approx(1.0, abs=1e-4)


def test_zoom_above_one_zooms_in_about_the_centre() -> None:
    # Pivot at (W/2, H/2) = (32, 32): a point 8 px right of it ends 16 px right of it.
    out = warp_2d(dot(40, 32), Motion2D(zoom=2.0))
    assert out[0, 0, 32, 48] == pytest.approx(1.0, abs=1e-4)
    assert out[0, 0, 32, 40] < 0.6


def test_positive_angle_turns_counter_clockwise_on_screen() -> None:
    # 90°: a point right of the pivot moves above it (y grows downwards on screen).
    out = warp_2d(dot(40, 32), Motion2D(angle_deg=90.0))
    assert brightest(out) == (32, 24)


def test_transform_centre_moves_the_pivot() -> None:
    out = warp_2d(dot(16, 16), Motion2D(zoom=2.0, center_x=0.0, center_y=0.0))
    assert brightest(out) == (32, 32)


def test_identity_returns_the_same_tensor() -> None:
    img = torch.rand(1, 3, H, W)
    assert warp_2d(img, Motion2D()) is img


@pytest.mark.parametrize("motion", [Motion2D(zoom=1.1, angle_deg=7, translation_x=3.5, translation_y=-2.25),
                                    Motion2D(zoom=0.9, angle_deg=-20, center_x=0.3, center_y=0.7)])
def test_matches_opencv_warp_affine(motion: Motion2D) -> None:
    rng = np.random.default_rng(0)
    img = rng.random((H, W, 3), dtype=np.float32)
    m = deforum_matrix(motion, W, H).numpy()[:2].astype(np.float64)
    expected = cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    got = warp_2d(torch.from_numpy(img).permute(2, 0, 1)[None], motion, "replicate")[0].permute(1, 2, 0).numpy()
    # OpenCV interpolates in fixed point (1/32 steps); compare the interior and the mean error.
    assert np.abs(got - expected)[4:-4, 4:-4].max() < 0.05
    assert np.abs(got - expected).mean() < 0.01


def test_border_modes_fill_differently() -> None:
    ramp = torch.linspace(0, 1, W).view(1, 1, 1, W).expand(1, 3, H, W).contiguous()
    motion = Motion2D(translation_x=16)
    replicate = warp_2d(ramp, motion, "replicate")
    reflect = warp_2d(ramp, motion, "reflect")
    wrap = warp_2d(ramp, motion, "wrap")
    # The 16 uncovered columns on the left: edge value, mirrored ramp, or the right edge wrapped round.
    assert torch.allclose(replicate[0, 0, 0, :16], ramp[0, 0, 0, 0].expand(16), atol=1e-5)
    assert reflect[0, 0, 0, 0] > reflect[0, 0, 0, 15]
    assert wrap[0, 0, 0, 0] == pytest.approx(float(ramp[0, 0, 0, W - 16]), abs=1e-4)
    with pytest.raises(ValueError, match="border"):
        warp_2d(ramp, motion, "mirror")


def test_scaled_motion_keeps_per_frame_meaning() -> None:
    half = Motion2D(zoom=1.02, angle_deg=2, translation_x=4).scaled(0.5)
    assert half.zoom == pytest.approx(1.02**0.5)
    assert half.angle_deg == pytest.approx(1.0)
    assert half.translation_x == pytest.approx(2.0)
    two = Motion2D(zoom=1.02).scaled(2.0)
    assert two.zoom == pytest.approx(1.02 * 1.02)


@pytest.mark.parametrize("size", [(64, 64), (48, 80)])
def test_the_device_grid_from_host_floats_matches_affine_grid(size: tuple[int, int]) -> None:
    from vj.engine.warp.warp2d import affine_sampling_grid, sampling_theta

    h, w = size
    theta = sampling_theta(Motion2D(zoom=1.07, angle_deg=13, translation_x=4.5, translation_y=-3, center_x=0.4), w, h)
    expected = torch.nn.functional.affine_grid(torch.tensor([theta], dtype=torch.float32), [1, 1, h, w],
                                               align_corners=False)
    got = affine_sampling_grid(theta, h, w, torch.device("cpu"))
    assert got.shape == expected.shape and torch.allclose(got, expected, atol=1e-6)
