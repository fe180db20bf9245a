"""The warp room chooses each frame's warp: 2D or 3D by animation_mode, scaled by the frame's time."""

from __future__ import annotations

import torch

from vj.engine.warp.frame_warp import FrameWarp
from vj.engine.warp.warp2d import Motion2D, warp_2d
from vj.engine.warp.warp3d import Camera3D, warp_3d
from vj.prompt_mix import PromptMix
from vj.registry import REGISTRY
from vj.snapshot import ParamSnapshot


def _snap(dt_s: float, **values: object) -> ParamSnapshot:
    every = {name: spec.default for name, spec in REGISTRY.items()}
    return ParamSnapshot(0, 0.0, dt_s, {**every, **values}, PromptMix())  # type: ignore[dict-item]


def _image() -> torch.Tensor:
    return torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(3))


def test_2d_live_scales_the_increment_by_the_elapsed_frames() -> None:
    image = _image()
    warp = FrameWarp(24.0, offline=False).for_frame(_snap(2 / 24, zoom=1.1, angle=3.0), None)
    expected = warp_2d(image, Motion2D(zoom=1.1, angle_deg=3.0).scaled(2.0))
    torch.testing.assert_close(warp(image), expected)


def test_2d_offline_moves_exactly_one_frame_whatever_the_clock_says() -> None:
    image = _image()
    warp = FrameWarp(24.0, offline=True).for_frame(_snap(0.5, zoom=1.1), None)
    torch.testing.assert_close(warp(image), warp_2d(image, Motion2D(zoom=1.1)))


def test_3d_mode_flies_the_camera_over_a_flat_plane_without_depth() -> None:
    image = _image()
    snap = _snap(1 / 24, animation_mode="3d", translation_z=5.0, rotation_3d_y=2.0)
    warp = FrameWarp(24.0, offline=True).for_frame(snap, image)
    p = snap.params
    camera = Camera3D(p.translation_x, p.translation_y, p.translation_z, p.rotation_3d_x, p.rotation_3d_y,
                      p.rotation_3d_z, p.fov, p.near, p.far)
    expected = warp_3d(image, camera, p.border, None, p.sampling_mode)
    torch.testing.assert_close(warp(image), expected)
    assert not torch.allclose(warp(image), FrameWarp(24.0, offline=True).for_frame(_snap(1 / 24), None)(image))
