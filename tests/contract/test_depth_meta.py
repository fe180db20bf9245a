"""The 3D mode's frame with Depth Anything V2 Small at full size on `meta`: depth of the previous
frame, its per-pixel 3D warp, the diffusion after it, no host read and no host→device copy.

The depth model is wired as `vj.session.depth.build_depth` wires a loaded one (the preset's
`[depth]` resolution, every_n and ema); only its weights are missing. The estimator makes the
processor's mean and std on the device when it is built, so even the first depth frame
copies nothing to the device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from tests.contract.engine_run import Run, backend, contract_preset, start, steady_frame
from tests.contract.meta_models import depth_anything_v2_small
from tests.contract.transfers import count_device_to_host
from vj.config import PresetConfig
from vj.depth_sources import DEFAULT_DEPTH_MODEL
from vj.engine.warp.depth_estimator import DepthEstimator, depth_model_from_module

CAMERA = dict(steps=1, animation_mode="3d", translation_z=10.0, rotation_3d_y=2.0, translation_x=3.0)


@pytest.fixture(scope="module")
def depth_module() -> Any:
    module = depth_anything_v2_small()
    assert sum(p.numel() for p in module.parameters()) > 24_000_000  # the real size, not a tiny stand-in
    return module


def estimator(depth_module: Any, preset: PresetConfig) -> DepthEstimator:
    cfg = preset.depth
    model = depth_model_from_module(depth_module, DEFAULT_DEPTH_MODEL)
    return DepthEstimator(model, resolution=cfg.resolution, every_n=cfg.every_n, ema=cfg.ema)


def depth_run(models: dict[str, Any], depth_module: Any, params: dict[str, object],
              depth_toml: str = "", *, publish_depth: bool = False) -> tuple[Run, DepthEstimator]:
    preset = contract_preset({**CAMERA, **params}, depth_toml)
    depth = estimator(depth_module, preset)
    return start(backend(models), {}, preset=preset, depth=depth, publish_depth=publish_depth), depth


def test_a_3d_frame_warped_by_full_size_depth_makes_no_transfer(models, depth_module) -> None:  # noqa: ANN001
    run, depth = depth_run(models, depth_module, {})
    run.engine.render_frame()  # text to image: nothing to take depth of yet
    run.engine.render_frame()  # the first depth estimate and 3D warp
    assert depth.estimates == 1
    run.engine.store.set("translation_z", 14.0)  # the camera moves differently every frame: still no copy
    run.engine.store.set("rotation_3d_x", -1.5)
    run.engine.store.set("depth_weight", 0.7)
    steady_frame(run)
    assert depth.estimates == 2  # the counted frame really ran the depth model
    latest = depth.latest
    assert latest is not None and latest.shape == (1, 1, 512, 512) and latest.device.type == "meta"


def test_depth_every_n_frames_with_cadence_tweens_makes_no_transfer(models, depth_module) -> None:  # noqa: ANN001
    run, depth = depth_run(models, depth_module, dict(cadence=2),
                           "[depth]\nresolution = 518\nevery_n = 2\nema = 0.3\n")
    for _ in range(3):
        run.engine.render_frame()
    for _ in range(4):  # diffused and tween frames, with a fresh and a reused depth map
        steady_frame(run)
    assert (depth.estimates, run.engine.stats.diffused) == (3, 4)  # depth on every 2nd warp; 7 frames, cadence 2
    assert depth.resolution == 518  # the model's own input size: 37 × 37 patches


def test_the_first_depth_frame_copies_nothing_and_feeds_the_model_patch_multiples(models, depth_module) -> None:  # noqa: ANN001
    seen: list[torch.Size] = []
    handle = depth_module.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["pixel_values"]
                                                                                               .shape),
                                                    with_kwargs=True)
    try:
        run, _ = depth_run(models, depth_module, {})
        run.engine.render_frame()
        steady_frame(run)  # the first depth frame: counted too
    finally:
        handle.remove()
    assert seen and all(s[-1] % 14 == 0 and s[-2] % 14 == 0 and max(s[-2:]) == 252 for s in seen)


@pytest.mark.parametrize("mode", ["3d", "2d"])
def test_a_published_depth_channel_rides_in_the_frames_one_copy(models, depth_module, mode: str) -> None:  # noqa: ANN001
    """--show depth / --ndi-depth: no blocking device→host copy of its own (a pipeline drain each frame)."""
    run, _ = depth_run(models, depth_module, dict(animation_mode=mode), publish_depth=True)
    run.engine.render_frame()
    run.engine.render_frame()
    with count_device_to_host() as copies:
        steady_frame(run)
    assert copies == [], "device→host copies besides the publish:\n" + "\n".join(copies)
    assert run.published[-1].shape == (512 * 512 * 4 + 1,)  # pixels, depth, flag: one buffer, one copy
    frame = run.sink.frames[-1]
    assert frame.depth is not None and frame.depth.shape == (512, 512) and frame.depth.dtype == np.uint8
