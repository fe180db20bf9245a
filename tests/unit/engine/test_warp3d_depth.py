"""The 3D warp with depth on synthetic scenes: planes at known depths, two-depth scenes, modes.

Expected motions are computed here from the camera model in the warp's docstring (a point
(x, y, z) projects to x / (tan(fov/2)·aspect·z)), not read back from the code.
"""

from __future__ import annotations

import math

import pytest
import torch

from vj.engine.warp.warp3d import Camera3D, pixel_grid, sampling_grid_3d, warp_3d, z_from_nearness

W = H = 128


def blob(x: float, y: float, size: int = W) -> torch.Tensor:
    """A soft disc (smooth, so bilinear resampling keeps its centroid)."""
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    disc = torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 2.0**2))
    return disc.expand(1, 3, size, size).clone()


def centroid(img: torch.Tensor) -> tuple[float, float]:
    weights = img[0, 0]
    size_y, size_x = weights.shape
    ys, xs = torch.meshgrid(torch.arange(size_y, dtype=torch.float32), torch.arange(size_x, dtype=torch.float32),
                            indexing="ij")
    total = weights.sum()
    return float((weights * xs).sum() / total), float((weights * ys).sum() / total)


def to_px(ndc: float, size: int = W) -> float:
    return (ndc + 1) * size / 2 - 0.5


def to_ndc(px: float, size: int = W) -> float:
    return (px + 0.5) * 2 / size - 1


def plane(z: float) -> torch.Tensor:
    return torch.full((H, W), z)


@pytest.mark.parametrize("z", [1.0, 2.0])
def test_a_plane_flown_toward_scales_about_the_centre_as_the_projection_says(z: float) -> None:
    # Forward by d: a point at x projects to x/(k(z-d)) instead of x/(kz); the output reads
    # the source at u - offset(u), so content at x0 lands where u(1 - c) = x0.
    fov, tz = 90.0, 20.0
    k, d = math.tan(math.radians(fov / 2)), tz / 200
    c = (1 / k) * (1 / (z - d) - 1 / z)
    x0 = to_ndc(96)
    got_x, got_y = centroid(warp_3d(blob(96, 64), Camera3D(translation_z=tz, fov_deg=fov), depth=plane(z)))
    assert got_x == pytest.approx(to_px(x0 / (1 - c)), abs=0.25)
    assert got_y == pytest.approx(64.0, abs=0.25)  # on the horizon: no vertical motion
    # Nearer planes grow faster; flying back shrinks.
    assert c > 0
    back_x, _ = centroid(warp_3d(blob(96, 64), Camera3D(translation_z=-tz, fov_deg=fov), depth=plane(z)))
    assert back_x < 96


def test_pan_about_y_shifts_the_centre_by_tan_theta_over_k_at_any_depth() -> None:
    fov, theta = 90.0, 3.0
    expected = -math.tan(math.radians(theta)) / math.tan(math.radians(fov / 2)) * W / 2
    for z in (1.0, 3.0):
        dx, dy = (a - b for a, b in zip(centroid(warp_3d(blob(64, 64), Camera3D(rotation_y_deg=theta, fov_deg=fov),
                                                             depth=plane(z))), centroid(blob(64, 64)), strict=True))
        assert dx == pytest.approx(expected, abs=0.2) and abs(dy) < 0.1


def test_a_two_depth_scene_shows_parallax_nearer_moves_more() -> None:
    # Left half near (z = 1), right half far (z = 3): a sideways camera move shifts the
    # near blob three times as far as the far one, each by tx/200/(k z) in NDC.
    depth = torch.ones(H, W)
    depth[:, W // 2:] = 3.0
    image = blob(32, 64) + blob(96, 64)
    camera = Camera3D(translation_x=10, fov_deg=90)
    out = warp_3d(image, camera, depth=depth)
    near_dx = centroid(out[..., : W // 2])[0] - centroid(image[..., : W // 2])[0]
    far_dx = centroid(out[..., W // 2:])[0] - centroid(image[..., W // 2:])[0]
    k = math.tan(math.radians(45))
    assert near_dx == pytest.approx(-(10 / 200) / (k * 1.0) * W / 2, abs=0.25)
    assert far_dx == pytest.approx(-(10 / 200) / (k * 3.0) * W / 2, abs=0.25)


def test_zero_motion_is_the_identity_with_or_without_depth() -> None:
    img = torch.rand(1, 3, 16, 16)
    assert warp_3d(img, Camera3D(fov_deg=40, near=300), depth=torch.rand(16, 16) + 1) is img
    # The grid itself is the pixel grid at rest, whatever the depth.
    grid = sampling_grid_3d(Camera3D(), 16, 8, torch.rand(8, 16) + 1)
    gx, gy = pixel_grid(16, 8, torch.device("cpu"))
    assert torch.allclose(grid[0], torch.stack([gx, gy], dim=-1), atol=1e-6)
    # A move undone by its opposite comes back (to bilinear precision) on a smooth image.
    smooth = blob(64, 64, W)
    there = warp_3d(smooth, Camera3D(translation_x=2), depth=plane(1.0))
    back = warp_3d(there, Camera3D(translation_x=-2), depth=plane(1.0))
    assert centroid(back)[0] == pytest.approx(centroid(smooth)[0], abs=0.05)


def test_near_and_far_bound_the_depth() -> None:
    camera = Camera3D(translation_x=10, fov_deg=90, far=400)  # far = 2 units
    img = blob(64, 64)
    assert torch.allclose(warp_3d(img, camera, depth=plane(5.0)), warp_3d(img, camera, depth=plane(2.0)))
    camera = Camera3D(translation_x=10, fov_deg=90, near=300)  # near = 1.5 units
    assert torch.allclose(warp_3d(img, camera, depth=plane(0.5)), warp_3d(img, camera, depth=plane(1.5)))
    # Deforum's defaults (200, 10000) leave z in [1, 50] untouched.
    camera = Camera3D(translation_x=10, fov_deg=90)
    assert not torch.allclose(warp_3d(img, camera, depth=plane(1.0)), warp_3d(img, camera, depth=plane(2.0)))


def test_padding_modes_fill_what_the_move_uncovers() -> None:
    img = torch.linspace(0.2, 0.8, W).expand(1, 3, H, W).clone()  # a ramp, brighter to the right
    camera = Camera3D(translation_x=-40, fov_deg=90)  # camera left: content right, the left edge opens
    zeros = warp_3d(img, camera, "zeros")
    replicate = warp_3d(img, camera, "replicate")
    reflect = warp_3d(img, camera, "reflect")
    assert zeros[0, 0, 64, 0] == 0.0
    assert replicate[0, 0, 64, 0] == pytest.approx(0.2, abs=1e-3)  # the edge pixel, repeated
    assert reflect[0, 0, 64, 0] > 0.25  # mirrored back into the frame: brighter than the edge
    wrap = warp_3d(img, camera, "wrap")
    assert wrap[0, 0, 64, 0] > 0.7  # tiled: the right side comes round


def test_sampling_modes_interpolate_differently() -> None:
    torch.manual_seed(0)
    img = torch.rand(1, 3, 32, 32)
    camera = Camera3D(translation_x=3.3, fov_deg=60)
    nearest = warp_3d(img, camera, sampling="nearest")
    bilinear = warp_3d(img, camera, sampling="bilinear")
    bicubic = warp_3d(img, camera, sampling="bicubic")
    source_values = set(img.flatten().tolist())
    assert set(nearest.flatten().tolist()) <= source_values  # nearest only copies pixels
    assert not set(bilinear.flatten().tolist()) <= source_values
    assert (bicubic - bilinear).abs().max() > 0.01
    assert bicubic.min() >= 0.0 and bicubic.max() <= 1.0  # cubic overshoot is clamped
    with pytest.raises(ValueError, match="sampling"):
        warp_3d(img, camera, sampling="lanczos")


def test_z_from_nearness_is_deforums_mapping_at_weight_one() -> None:
    d = torch.tensor([0.0, 0.5, 1.0])
    assert z_from_nearness(d, 1.0).tolist() == pytest.approx([2.0, 1.5, 1.0])  # z = 2 - d
    assert z_from_nearness(d, 0.0).tolist() == pytest.approx([1.0, 1.0, 1.0])  # the flat plane
    with pytest.raises(ValueError, match="depth must hold"):
        sampling_grid_3d(Camera3D(translation_x=1), 8, 8, torch.ones(4, 4))


def test_the_warp_runs_on_meta_tensors_without_host_reads() -> None:
    # meta raises on any host read (.item(), float(t), if t > 0) and on mixing in CPU tensors.
    img = torch.empty(1, 3, 64, 96, device="meta")
    depth = torch.empty(1, 1, 64, 96, device="meta")
    camera = Camera3D(1.0, 2.0, 3.0, 0.5, 0.4, 0.3, 60.0, 250.0, 5000.0)
    for sampling in ("bilinear", "bicubic", "nearest"):
        for border in ("replicate", "reflect", "wrap", "zeros"):
            out = warp_3d(img, camera, border, depth, sampling)
            assert out.device.type == "meta" and out.shape == img.shape
    assert warp_3d(img, camera).shape == img.shape  # the flat plane too


def test_a_steady_warp_makes_no_host_to_device_copies() -> None:
    # The camera is nine Python floats and the pixel grid is cached: nothing crosses per frame.
    from tests.unit.host_copies import count_host_copies

    img = torch.empty(1, 3, 64, 96, device="meta")
    depth = z_from_nearness(torch.empty(1, 1, 64, 96, device="meta"), 0.7)
    warp_3d(img, Camera3D(translation_x=1.0), depth=depth)  # builds the cached grid
    with count_host_copies() as copies:
        for frame in range(3):
            warp_3d(img, Camera3D(1.0 + frame, 2.0, 3.0, 0.5, 0.4, 0.3), "zeros", depth, "bicubic")
    assert copies.count == 0, copies.ops
