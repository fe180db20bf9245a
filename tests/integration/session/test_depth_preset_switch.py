"""A live preset switch and `[depth]`: the cheap settings follow, the loaded depth model stays and says so.

Preset files on disk, switched through `PresetSwitcher.by_name` (the path the preview keys, MIDI
and OSC take), into a `LiveSession` on the tiny model with the tiny Depth Anything (CPU).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CollectFrames, wait_for
from vj.engine.warp.depth_estimator import DepthEstimator
from vj.preset_files import load_preset
from vj.session import LiveSession

HEAD = """
[preset]
name = "{name}"
[model]
source = "tiny"
device = "cpu"
[render]
width = 64
height = 64
fps = 24
[[prompts.mix]]
text = "a tunnel of neon light"
[params]
animation_mode = "{mode}"
translation_x = 30.0
fov = 70.0
strength = 0.6
cadence = 1
"""


def write_preset(folder: Path, name: str, depth: str, mode: str = "3d") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(HEAD.format(name=name, mode=mode) + "[depth]\n" + depth, encoding="utf-8")
    return path


def estimator(session: LiveSession) -> DepthEstimator:
    assert session.engine.depth is not None
    return session.engine.depth


def depth_input_sizes(depth: DepthEstimator) -> list[tuple[int, int]]:
    """The (h, w) of every picture the depth model is handed, as the model itself sees it."""
    sizes: list[tuple[int, int]] = []

    def record(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        sizes.append(tuple(kwargs["pixel_values"].shape[-2:]))

    depth.model.module.register_forward_pre_hook(record, with_kwargs=True)
    return sizes


def test_a_switch_brings_every_n_ema_and_resolution_at_the_next_frame(tiny_backend, tmp_path: Path,  # noqa: ANN001
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    start = write_preset(tmp_path, "start", 'model = "tiny"\nresolution = 56\nevery_n = 1\nema = 0.5\n')
    other = write_preset(tmp_path, "other", "resolution = 28\nevery_n = 3\nema = 0.2\n")  # '' = tiny here
    session = LiveSession(load_preset(str(start)), backend=tiny_backend, offline=True)
    depth = estimator(session)
    sizes = depth_input_sizes(depth)
    session.engine.prime(session.store.prompts())
    for _ in range(3):
        session.engine.render_frame()
    before = depth.estimates
    session.engine.render_frame()
    assert depth.estimates == before + 1  # every_n = 1: each frame runs the model once

    caplog.set_level(logging.INFO)
    assert session.presets.by_name(str(other)) == "other"
    assert session.preset.name == "other"
    # Applied at the frame boundary on the render side, not by the switch itself.
    assert (depth.resolution, depth.every_n, depth.ema) == (56, 1, 0.5)

    before, seen = depth.estimates, len(sizes)
    for _ in range(6):
        session.engine.render_frame()
    assert (depth.resolution, depth.every_n, depth.ema) == (28, 3, 0.2)
    assert depth.estimates == before + 2  # every 3rd of 6 frames, starting at the first after the switch
    assert set(sizes[:seen]) == {(56, 56)} and set(sizes[seen:]) == {(28, 28)}
    assert session.engine.depth is depth  # the same model: nothing reloaded
    assert "depth model" not in session.status_line()
    assert not [r for r in caplog.records if "depth model" in r.getMessage()]
    session.stop()


def test_a_switch_to_another_depth_model_keeps_the_loaded_one_and_says_so(tiny_backend, tmp_path: Path,  # noqa: ANN001
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    start = write_preset(tmp_path, "start", 'model = "tiny"\nresolution = 56\n')
    midas = write_preset(tmp_path, "midas", 'model = "Midas-3-Hybrid"\nresolution = 42\nevery_n = 2\nema = 0.3\n')
    session = LiveSession(load_preset(str(start)), backend=tiny_backend)
    depth = estimator(session)
    sink = CollectFrames()
    session.add_output(sink)
    session.start()
    try:
        wait_for(lambda: len(sink.frames) >= 2, timeout_s=60)
        caplog.set_level(logging.WARNING)
        assert session.presets.by_name(str(midas)) == "midas"
        wait_for(lambda: depth.every_n == 2, timeout_s=60)  # the running show took it up between two frames
        assert (depth.resolution, depth.ema) == (42, 0.3)
        kept = [r.getMessage() for r in caplog.records if "depth model" in r.getMessage()]
        assert kept == ["preset 'midas' names depth model Intel/dpt-hybrid-midas; keeping tiny "
                        "(depth models are not swapped live)"]
        assert "depth model kept: tiny (preset names Intel/dpt-hybrid-midas)" in session.status_line()
        assert session.engine.depth is depth and depth.model.name == "tiny"
        assert session.preset.depth.model == "tiny"  # what the show plays; panic recalls no other model

        session.presets.recall_now()  # panic: the playing preset, whose depth model is the loaded one
        assert "depth model" not in session.status_line()
        assert session.presets.by_name(str(start)) == "start"
        wait_for(lambda: depth.every_n == 1, timeout_s=60)
    finally:
        session.stop()
    assert "depth model" not in session.status_line()


def test_a_2d_show_switched_to_3d_says_the_warp_is_flat(tiny_backend, tmp_path: Path,  # noqa: ANN001
                                                        caplog: pytest.LogCaptureFixture) -> None:
    flat = write_preset(tmp_path, "flat", "every_n = 1\n", mode="2d")
    deep = write_preset(tmp_path, "deep", "every_n = 4\n")
    session = LiveSession(load_preset(str(flat)), backend=tiny_backend, offline=True)
    assert session.engine.depth is None
    caplog.set_level(logging.WARNING)
    assert session.presets.by_name(str(deep)) == "deep"
    assert "depth model not loaded: tiny (flat plane)" in session.status_line()
    assert [r.getMessage() for r in caplog.records if "depth model" in r.getMessage()] == [
        "preset 'deep' names depth model tiny; no depth model is loaded in this show, so 3D warps a flat plane "
        "(depth models are not loaded live: start the show with it, or with --depth-model)"]
    session.stop()


def test_a_depth_controlnets_own_estimator_takes_the_settings_too(tmp_path: Path) -> None:
    from vj.config import ModelConfig
    from vj.engine.backends import load_backend

    backend = load_backend(ModelConfig(source="tiny", device="cpu"))  # its own: ControlNets attach to it
    unit = '\n[[controlnet]]\nsource = "tiny"\nconditioning = "depth"\n'
    start = write_preset(tmp_path, "start", "resolution = 56\n" + unit, mode="2d")
    other = write_preset(tmp_path, "other", "resolution = 28\nevery_n = 2\nema = 0.3\n" + unit, mode="2d")
    session = LiveSession(load_preset(str(start)), backend=backend, offline=True)
    assert session.engine.depth is None and session.engine.controls is not None
    control = session.engine.controls.depth
    assert control is not None and (control.resolution, control.every_n, control.ema) == (56, 1, 0.5)
    session.engine.prime(session.store.prompts())
    session.engine.render_frame()
    assert session.presets.by_name(str(other)) == "other"
    session.engine.render_frame()
    assert (control.resolution, control.every_n, control.ema) == (28, 2, 0.3)
    assert "depth model" not in session.status_line()  # a 2D preset naming no depth model asks for none
    session.stop()
