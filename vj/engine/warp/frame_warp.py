"""This frame's warp, chosen from its parameters: the 2D affine warp, or the 3D camera over depth.

The render loop asks for one function per frame and applies it to whatever it feeds back (the
newest diffused image, and the cadence's older one); which warp that is, how its increments
scale with time, and where the 3D warp's depth comes from are decided here. Live, motion
increments scale with the real elapsed time (`dt · fps` frames); offline, exactly one frame.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vj.choices import AnimationMode
from vj.engine.warp.depth_estimator import DepthEstimator
from vj.engine.warp.warp2d import Motion2D, warp_2d_fn
from vj.engine.warp.warp3d import Camera3D, warp_3d, z_from_nearness
from vj.registry import FrameParams
from vj.snapshot import ParamSnapshot

Warp = Callable[[torch.Tensor], torch.Tensor]


class FrameWarp:
    """Chooses each frame's warp; owns the 3D warp's depth estimator (None: a flat plane)."""

    def __init__(self, fps: float, *, offline: bool, depth: DepthEstimator | None = None,
                 publish_depth: bool = False) -> None:
        """`fps`: the reference fps of motion increments; `publish_depth`: every frame wants its depth map."""
        self.fps = fps
        self.offline = offline
        self.depth = depth
        self.publish_depth = publish_depth and depth is not None

    def for_frame(self, snap: ParamSnapshot, depth_source: torch.Tensor | None) -> Warp:
        """The warp of `snap`'s frame; `depth_source`: the newest diffused image (Deforum's depth source)."""
        frames = 1.0 if self.offline else snap.dt_s * self.fps
        p = snap.params
        if p.animation_mode is AnimationMode.THREE_D:
            camera = Camera3D(
                p.translation_x, p.translation_y, p.translation_z,
                p.rotation_3d_x, p.rotation_3d_y, p.rotation_3d_z, p.fov, p.near, p.far,
            ).scaled(frames)
            depth = self._depth_z(p, camera, depth_source)
            border, sampling = p.border, p.sampling_mode
            return lambda image: warp_3d(image, camera, border, depth, sampling)
        motion = Motion2D(
            zoom=p.zoom, angle_deg=p.angle, translation_x=p.translation_x, translation_y=p.translation_y,
            center_x=p.transform_center_x, center_y=p.transform_center_y,
        ).scaled(frames)
        return warp_2d_fn(motion, p.border)

    def _depth_z(self, p: FrameParams, camera: Camera3D, source: torch.Tensor | None) -> torch.Tensor | None:
        """Depth z of `source`, or None for the flat plane."""
        if self.depth is None or source is None or p.depth_weight == 0.0:
            return None
        if camera.is_identity() and not self.publish_depth:
            return None  # nothing moves: no depth needed
        return z_from_nearness(self.depth.nearness(source), p.depth_weight)

    def depth_grey(self, output: torch.Tensor, mode: AnimationMode) -> torch.Tensor:
        """The depth map as greyscale uint8 on the device (255 = nearest): the 3D warp's, or in 2D the output's."""
        assert self.depth is not None
        nearness = self.depth.latest
        if mode is not AnimationMode.THREE_D or nearness is None or nearness.shape[-2:] != output.shape[-2:]:
            nearness = self.depth.nearness(output)
        return (nearness[0, 0] * 255).round_().clamp_(0, 255).to(torch.uint8)

    def resized(self) -> None:
        """The frame size changed: the depth estimator's smoothing starts again."""
        if self.depth is not None:
            self.depth.reset()
