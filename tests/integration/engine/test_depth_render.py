"""The 3D warp with a real depth model in the render loop (the tiny Depth Anything, CPU)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from tests.helpers import CollectFrames
from vj.cli import main
from vj.config import DepthConfig, PresetConfig
from vj.deforum.convert import load_settings
from vj.engine.clock import FixedClock
from vj.engine.loop import Engine, EngineSettings
from vj.engine.warp.depth_estimator import DepthEstimator, build_tiny_depth_model
from vj.engine.warp.warp3d import Camera3D, warp_3d, z_from_nearness
from vj.session import render_offline
from vj.session.presets import build_store

DATA = Path(__file__).parents[2] / "data"
CPU = torch.device("cpu")
# strength 1: the warp alone drives the picture, so frame 1 is exactly frame 0 warped.
PURE_WARP = {"animation_mode": "3d", "strength": 1.0, "noise": 0.0, "contrast": 1.0, "antiblur_amount": 0.0,
             "color_coherence": "none", "translation_x": 30.0, "fov": 70.0, "cadence": 1}


def to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image[0].permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()


def test_the_engine_warps_by_the_depth_of_the_previous_frame(tiny_backend, tiny_preset: PresetConfig) -> None:  # noqa: ANN001
    preset = tiny_preset.replace(params={**tiny_preset.params, **PURE_WARP})
    depth = DepthEstimator(build_tiny_depth_model(CPU, torch.float32), resolution=56, ema=0.0)
    sink = CollectFrames()
    engine = Engine(tiny_backend, build_store(preset, tiny_backend), EngineSettings(64, 64, 24, offline=True), sink,
                    FixedClock(24), depth=depth, publish_depth=True)
    engine.prime(preset.prompts.to_mix())
    engine.render_frame()
    previous = engine.feedback.turbo_next.clone()  # the float picture the next frame warps
    frame = engine.render_frame()
    p = frame.snapshot.params
    camera = Camera3D(p.translation_x, fov_deg=p.fov)
    nearness = DepthEstimator(build_tiny_depth_model(CPU, torch.float32), resolution=56, ema=0.0).estimate(previous)
    assert float(nearness.std()) > 0.2  # a real per-pixel map (equalised), not a plane
    with_depth = to_uint8(warp_3d(previous, camera, "replicate", z_from_nearness(nearness, 1.0), "bilinear"))
    flat = to_uint8(warp_3d(previous, camera, "replicate", None, "bilinear"))
    got = frame.image.astype(int)
    assert np.abs(got - with_depth).max() <= 1
    assert np.abs(got - flat).mean() > 3 * max(np.abs(got - with_depth).mean(), 0.05)
    assert depth.estimates == 2  # frame 0's published map (nothing warped yet), then frame 1's warp
    assert frame.depth is not None and frame.depth.shape == (64, 64) and frame.depth.dtype == np.uint8
    assert frame.depth.max() == 255  # white = nearest


def test_the_astria_default_camera_renders_with_parallax(tiny_backend) -> None:  # noqa: ANN001
    preset = load_settings(str(DATA / "astria_default_camera.txt")).preset.with_overrides(
        model="tiny", width=64, height=64, device="cpu", steps=1, depth_model="tiny")
    frames = {}
    for model in ("tiny", "none"):
        sink = CollectFrames()
        render_offline(preset.replace(depth=DepthConfig(model=model, resolution=56)), frames=6, outputs=[sink],
                       backend=tiny_backend)
        frames[model] = [f.image.astype(int) for f in sink.frames]
    assert np.array_equal(frames["tiny"][0], frames["none"][0])  # nothing warped yet
    assert max(np.abs(a - b).mean() for a, b in zip(frames["tiny"][1:], frames["none"][1:], strict=True)) > 0.5


def test_vj_render_with_a_tiny_depth_model_and_a_missing_one(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "clip.mp4"
    args = ["render", str(DATA / "astria_default_camera.txt"), "--out", str(out), "--model", "tiny", "--width", "64",
            "--height", "64", "--device", "cpu", "--frames", "3", "--no-progress"]
    assert main([*args, "--depth-model", "tiny"]) == 0
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    capsys.readouterr()
    assert main([*args, "--depth-model", "someone/no-such-depth"]) != 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "not in the local Hugging Face cache" in lines[0], err
    assert "rendering" not in err  # refused before the diffusion model loaded
    assert main([*args, "--depth-model", "not a model"]) != 0
    assert "depth.model" in capsys.readouterr().err


def test_a_show_that_publishes_depth_loads_the_model_even_in_2d(tiny_backend, tiny_preset: PresetConfig) -> None:  # noqa: ANN001
    from vj.session.live import LiveSession

    preset = tiny_preset.replace(depth=DepthConfig(resolution=56))
    plain = LiveSession(preset, backend=tiny_backend, offline=True)
    assert plain.engine.depth is None  # a 2D preset that names no depth model loads none
    session = LiveSession(preset, backend=tiny_backend, offline=True, publish_depth=True)
    sink = CollectFrames()
    session.add_output(sink)
    session.run(frames=2)
    assert session.engine.depth is not None and session.engine.depth.model.name == "tiny"
    assert all(f.depth is not None and f.depth.shape == (64, 64) for f in sink.frames)
