"""The 2D and 3D warps on non-square frames, against pixel positions worked out by hand.

Two kinds of picture: a single bright pixel (where must it land?) and a coordinate ramp
(channel 0 holds each pixel's column, channel 1 its row; bilinear sampling of a linear ramp
is exact, so each output pixel says where in the previous frame it read from). The expected
positions are written out here with plain numbers, never taken from the code under test.

Index coordinates: pixel (i, j) is column i, row j; its centre lies at (i + 0.5, j + 0.5) in
continuous coordinates, so a frame's geometric centre is (W/2, H/2) there. Deforum's 2D pivot
is the pixel index (cx·W, cy·H) (OpenCV's convention); the 3D camera looks at the geometric
centre.
"""

from __future__ import annotations

import math

import pytest
import torch

from vj.engine.warp.grid_sample import sample_grid
from vj.engine.warp.warp2d import Motion2D, affine_sampling_grid, sampling_theta, warp_2d
from vj.engine.warp.warp3d import Camera3D, warp_3d
from vj.registry import BorderMode

# (width, height): wide, tall, and 768x448's shape at an eighth of its size.
SIZES = [(96, 48), (48, 96), (96, 56)]
SIZE_IDS = ["96x48", "48x96", "96x56"]


def dot(width: int, height: int, x: int, y: int) -> torch.Tensor:
    image = torch.zeros(1, 3, height, width)
    image[0, :, y, x] = 1.0
    return image


def landing(image: torch.Tensor) -> tuple[int, int, float]:
    """(column, row, value) of the brightest pixel, which must be the only one that bright."""
    plane = image[0, 0]
    flat = int(plane.argmax())
    row, col = divmod(flat, plane.shape[1])
    value = float(plane[row, col])
    assert int((plane > value - 1e-3).sum()) == 1, "the dot spread over several equally bright pixels"
    return col, row, value


def assert_lands(out: torch.Tensor, expected: tuple[int, int]) -> None:
    col, row, value = landing(out)
    assert (col, row) == expected
    assert value == pytest.approx(1.0, abs=1e-4)  # read exactly at the dot's centre


def ramp(width: int, height: int) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    return torch.stack([xs, ys, torch.zeros_like(xs)]).unsqueeze(0)


def read_from(out: torch.Tensor, col: int, row: int) -> tuple[float, float]:
    """Where output pixel (col, row) of a warped ramp read the previous frame, in index coordinates."""
    return float(out[0, 0, row, col]), float(out[0, 1, row, col])


# --- 2D: Deforum's affine warp in pixel space -------------------------------------------------


@pytest.mark.parametrize(("width", "height"), SIZES, ids=SIZE_IDS)
def test_2d_translation_moves_a_dot_by_whole_pixels(width: int, height: int) -> None:
    cx, cy = width // 2, height // 2
    out = warp_2d(dot(width, height, cx - 7, cy + 4), Motion2D(translation_x=5, translation_y=-3))
    assert_lands(out, (cx - 2, cy + 1))


@pytest.mark.parametrize(("width", "height"), SIZES, ids=SIZE_IDS)
def test_2d_zoom_scales_the_same_in_x_and_y(width: int, height: int) -> None:
    cx, cy = width // 2, height // 2  # the pivot, (0.5·W, 0.5·H) as pixel indices
    out = warp_2d(dot(width, height, cx + 3, cy - 2), Motion2D(zoom=2.0))
    assert_lands(out, (cx + 6, cy - 4))


@pytest.mark.parametrize(("width", "height"), SIZES, ids=SIZE_IDS)
def test_2d_quarter_turn_keeps_distances_in_pixels(width: int, height: int) -> None:
    """+90°: a dot 5 px right of the pivot goes 5 px up; one 7 px below goes 7 px right (counter-clockwise)."""
    cx, cy = width // 2, height // 2
    motion = Motion2D(angle_deg=90)
    assert_lands(warp_2d(dot(width, height, cx + 5, cy), motion), (cx, cy - 5))
    assert_lands(warp_2d(dot(width, height, cx, cy + 7), motion), (cx + 7, cy))


@pytest.mark.parametrize(("width", "height"), SIZES, ids=SIZE_IDS)
def test_2d_turn_zoom_translation_and_an_off_centre_pivot_together(width: int, height: int) -> None:
    # Deforum: p = c + zoom·rot(s + t − c). Pivot c = (W/4, 3H/4); s + t − c = (−2, −5);
    # a quarter turn makes that (−5, 2), zoom 2 makes it (−10, 4).
    cx, cy = width // 4, 3 * height // 4
    motion = Motion2D(zoom=2.0, angle_deg=90, translation_x=2, translation_y=1, center_x=0.25, center_y=0.75)
    out = warp_2d(dot(width, height, cx - 4, cy - 6), motion)
    assert_lands(out, (cx - 10, cy + 4))


def _warp_2d_on_device_grid(image: torch.Tensor, motion: Motion2D) -> torch.Tensor:
    """The accelerator's path (a cached base grid and host floats), run here on the CPU."""
    _, _, h, w = image.shape
    grid = affine_sampling_grid(sampling_theta(motion, w, h), h, w, image.device)
    return sample_grid(image, grid, BorderMode.REPLICATE)


@pytest.mark.parametrize("path", ["cpu", "device-grid"])
@pytest.mark.parametrize(("width", "height"), SIZES, ids=SIZE_IDS)
def test_2d_rotation_is_the_true_angle_in_pixel_space(width: int, height: int, path: str) -> None:
    """30°: each output pixel reads the previous frame at its own offset from the pivot turned back by 30°."""
    motion = Motion2D(angle_deg=30)
    warped = warp_2d(ramp(width, height), motion) if path == "cpu" else \
        _warp_2d_on_device_grid(ramp(width, height), motion)
    cx, cy = width // 2, height // 2
    cos30, sin30 = math.sqrt(3) / 2, 0.5
    for dx, dy in ((8, 0), (0, 8), (-6, 5), (7, -7)):
        # p − c = rot(s − c) with rot = [[cos, sin], [−sin, cos]]: s − c = [[cos, −sin], [sin, cos]]·(p − c)
        expected = (cx + cos30 * dx - sin30 * dy, cy + sin30 * dx + cos30 * dy)
        sx, sy = read_from(warped, cx + dx, cy + dy)
        assert (sx, sy) == pytest.approx(expected, abs=1e-3)
        assert math.hypot(sx - cx, sy - cy) == pytest.approx(math.hypot(dx, dy), abs=1e-3)  # no stretch


# --- 3D: the camera over a flat plane at z = 1, fov 90° (tan(fov/2) = 1) ----------------------


def centre_index(width: int, height: int, dx: float, dy: float) -> tuple[int, int]:
    """The pixel whose centre is (dx, dy) pixels from the frame's geometric centre (half-integers)."""
    col, row = width / 2 + dx - 0.5, height / 2 + dy - 0.5
    assert col == int(col) and row == int(row)
    return int(col), int(row)


@pytest.mark.parametrize(("width", "height"), SIZES, ids=SIZE_IDS)
def test_3d_translation_moves_content_by_ty_h_over_400_pixels_on_both_axes(width: int, height: int) -> None:
    # The plane is at z = 1 in units of half the frame's height: a camera move of 50/200 = 0.25
    # of those is 0.25·H/2 = H/8 pixels, left for +x (camera right), down for +y.
    shift = height // 8
    camera = Camera3D(translation_x=50, translation_y=50, fov_deg=90)
    src = centre_index(width, height, 3.5, -5.5)
    out = warp_3d(dot(width, height, *src), camera)
    assert_lands(out, (src[0] - shift, src[1] + shift))


@pytest.mark.parametrize(("width", "height"), SIZES, ids=SIZE_IDS)
def test_3d_flight_zooms_the_same_in_x_and_y(width: int, height: int) -> None:
    # Flying 80/200 = 0.4 toward the plane: z' = 0.6, the projection grows by 1/0.6 = 5/3, and the
    # warp moves each pixel by that change: it reads at d − d·(5/3 − 1) = d/3, a 3× zoom.
    camera = Camera3D(translation_z=80, fov_deg=90)
    for (sx, sy), (px, py) in (((1.5, -0.5), (4.5, -1.5)), ((-2.5, 3.5), (-7.5, 10.5))):
        out = warp_3d(dot(width, height, *centre_index(width, height, sx, sy)), camera)
        assert_lands(out, centre_index(width, height, px, py))


@pytest.mark.parametrize(("width", "height"), SIZES, ids=SIZE_IDS)
def test_3d_roll_is_the_same_similarity_in_pixels_at_any_aspect(width: int, height: int) -> None:
    # Roll 90°: a point (X, Y) becomes (Y, −X), so the pixel at (X, Y) moves by (Y − X, −X − Y)
    # and reads at (X, Y) minus that, (2X − Y, X + 2Y): a turn and scale (no shear) at any aspect.
    camera = Camera3D(rotation_z_deg=90, fov_deg=90)
    for (sx, sy), (px, py) in (((-0.5, 3.5), (0.5, 1.5)), ((5.5, 1.5), (2.5, -0.5))):
        out = warp_3d(dot(width, height, *centre_index(width, height, sx, sy)), camera)
        assert_lands(out, centre_index(width, height, px, py))


def _pan_read(dx: float, dy: float, height: int, degrees: float) -> tuple[float, float]:
    """Pan by `degrees` about y, by hand: a pixel's point (X, Y, 1) in half-heights goes to
    (X·cos − sin, Y, X·sin + cos); the pixel reads at 2·(X, Y) − (X', Y')/Z'."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    x, y = 2 * dx / height, 2 * dy / height
    x_new, y_new, z_new = x * c - s, y, x * s + c
    return (2 * x - x_new / z_new) * height / 2, (2 * y - y_new / z_new) * height / 2


def _tilt_read(dx: float, dy: float, height: int, degrees: float) -> tuple[float, float]:
    """Tilt by `degrees` about x: (X, Y, 1) goes to (X, Y·cos + sin, cos − Y·sin)."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    x, y = 2 * dx / height, 2 * dy / height
    x_new, y_new, z_new = x, y * c + s, c - y * s
    return (2 * x - x_new / z_new) * height / 2, (2 * y - y_new / z_new) * height / 2


@pytest.mark.parametrize("move", ["pan", "tilt"])
@pytest.mark.parametrize(("width", "height"), SIZES, ids=SIZE_IDS)
def test_3d_pan_and_tilt_read_where_the_projection_says(width: int, height: int, move: str) -> None:
    degrees = 6.0
    camera = Camera3D(rotation_y_deg=degrees, fov_deg=90) if move == "pan" else \
        Camera3D(rotation_x_deg=degrees, fov_deg=90)
    expected_read = _pan_read if move == "pan" else _tilt_read
    warped = warp_3d(ramp(width, height), camera)
    for dx, dy in ((0.5, 0.5), (-7.5, 4.5), (9.5, -8.5), (-3.5, -10.5)):
        col, row = centre_index(width, height, dx, dy)
        rx, ry = expected_read(dx, dy, height, degrees)
        expected = (width / 2 + rx - 0.5, height / 2 + ry - 0.5)
        assert read_from(warped, col, row) == pytest.approx(expected, abs=2e-3)


def test_3d_depth_is_read_row_by_row_on_a_wide_frame() -> None:
    """Left half at z = 1, right half at z = 2: a camera move of 0.25 shifts them H/8 and H/16 pixels."""
    width, height = 96, 48
    depth = torch.ones(height, width)
    depth[:, width // 2:] = 2.0
    warped = warp_3d(ramp(width, height), Camera3D(translation_x=50, fov_deg=90), depth=depth)
    for col in (10, 30):
        assert read_from(warped, col, 20) == pytest.approx((col + 6.0, 20.0), abs=1e-3)
    for col in (60, 80):
        assert read_from(warped, col, 20) == pytest.approx((col + 3.0, 20.0), abs=1e-3)


@pytest.mark.parametrize("camera", [
    Camera3D(translation_x=20, translation_y=-10, translation_z=15, fov_deg=70),
    Camera3D(rotation_x_deg=2, rotation_y_deg=-3, rotation_z_deg=5, fov_deg=70),
    Camera3D(translation_z=10, rotation_z_deg=-4, rotation_y_deg=1.5, fov_deg=50),
], ids=["translations", "rotations", "flight-roll-pan"])
@pytest.mark.parametrize(("width", "height"), [(96, 48), (96, 56), (48, 32)], ids=["96x48", "96x56", "48x32"])
def test_3d_a_wider_frame_shows_more_of_the_same_scene(width: int, height: int, camera: Camera3D) -> None:
    """Any move reads the same pixel offsets on a wide frame as on a square one of the same height."""
    wide = warp_3d(ramp(width, height), camera)
    square = warp_3d(ramp(height, height), camera)
    for dx, dy in ((0.5, 0.5), (-9.5, 6.5), (11.5, -8.5), (-4.5, -12.5), (13.5, 10.5)):
        wx, wy = read_from(wide, *centre_index(width, height, dx, dy))
        sx, sy = read_from(square, *centre_index(height, height, dx, dy))
        assert (wx - width / 2, wy - height / 2) == pytest.approx((sx - height / 2, sy - height / 2), abs=2e-3)
