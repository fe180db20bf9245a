"""Deforum settings files rendered end to end with the tiny model, checked frame by frame.

The expected values are computed here independently, straight from the numbers in the
files under tests/data (np.interp over the keyframes, the expressions written out in
numpy), not through vj's schedule parser.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.helpers import CollectFrames
from vj.cli import main
from vj.config import PresetConfig
from vj.deforum.convert import load_settings
from vj.frames import Frame
from vj.session import render_offline

DATA = Path(__file__).parents[2] / "data"


def tiny(path: str) -> PresetConfig:
    # One step keeps the tests fast; steps do not change any schedule value.
    return load_settings(str(DATA / path)).preset.with_overrides(model="tiny", width=64, height=64, device="cpu",
                                                                 steps=1)


def render_all(preset: PresetConfig, backend) -> list[Frame]:  # noqa: ANN001
    sink = CollectFrames()
    assert render_offline(preset, frames=preset.render.frames, outputs=[sink], backend=backend) == preset.render.frames
    return sink.frames


def column(frames: list[Frame], name: str) -> np.ndarray:
    return np.array([f.snapshot.num(name) for f in frames])


def prompt_texts(frames: list[Frame]) -> list[tuple[tuple[str, float], ...]]:
    return [tuple((e.text, round(e.weight, 9)) for e in f.snapshot.prompts.entries) for f in frames]


def test_zoom_tunnel(tiny_backend) -> None:  # noqa: ANN001
    frames = render_all(tiny(DATA / "deforum_zoom_tunnel_settings.txt"), tiny_backend)
    f = np.arange(48)
    assert [fr.index for fr in frames] == f.tolist()
    np.testing.assert_allclose(column(frames, "zoom"), np.interp(f, [0, 12, 36, 47], [1.0, 1.04, 1.04, 1.0]))
    np.testing.assert_allclose(column(frames, "translation_x"), np.interp(f, [0, 24, 47], [0, 2, 0]))
    np.testing.assert_allclose(column(frames, "strength"), np.interp(f, [0, 24, 30], [0.6, 0.45, 0.6]))
    assert (column(frames, "noise") == 0.04).all() and (column(frames, "guidance") == 7.0).all()
    # cadence 2: diffuse every other frame, tween the rest; the iter seed moves per diffusion
    assert [fr.diffused for fr in frames] == [i % 2 == 0 for i in f]
    assert [fr.seed for fr in frames] == [3141 + i // 2 for i in f]
    texts = [fr.snapshot.prompts.entries[0].text for fr in frames]
    assert texts[:24] == ["an endless neon tunnel, synthwave, volumetric light"] * 24  # a cut, as Deforum
    assert texts[24:] == ["an endless tunnel of bioluminescent coral, underwater"] * 24
    assert all(fr.snapshot.prompts.negative == "nsfw, nude" for fr in frames)
    assert frames[-1].image.shape == (64, 64, 3)


def test_rotation_with_expressions_and_seed_schedule(tiny_backend) -> None:  # noqa: ANN001
    frames = render_all(tiny(DATA / "deforum_rotation_expressions_settings.txt"), tiny_backend)
    t = np.arange(60, dtype=float)
    angle = np.where(t < 10, 3 * np.sin(2 * 3.14 * 10 / 30) * t / 10, 3 * np.sin(2 * 3.14 * t / 30))
    angle = np.where(t >= 40, np.where(t < 50, -1.5, 0.5), angle)
    angle[59] = 0.0
    np.testing.assert_allclose(column(frames, "angle"), angle, atol=1e-9)
    np.testing.assert_allclose(column(frames, "zoom"), 1.0025 + 0.002 * np.sin(1.25 * 3.14 * t / 30))
    centre_key = np.clip(0.5 + 0.3 * np.cos(29 / 7), 0.2, 0.8)  # max_f/2 = 29.5 → frame 29
    centre = np.where(t < 29, 0.5 + (centre_key - 0.5) * t / 29, np.clip(0.5 + 0.3 * np.cos(t / 7), 0.2, 0.8))
    np.testing.assert_allclose(column(frames, "transform_center_x"), centre)
    contrast = np.where(t < 30, 1.0, 1.0 + 0.05 * np.arctan2(t - 30, 10))
    np.testing.assert_allclose(column(frames, "contrast"), contrast)
    np.testing.assert_allclose(column(frames, "antiblur_threshold"), np.interp(t, [0, 30], [0, 12.75]) / 255)
    seeds = [fr.seed for fr in frames]
    assert seeds[0] == 77 and seeds[20:58] == [97] * 38 and seeds[58:] == [77, 77]  # s + 20, then s at max_f-1
    random_seeds = seeds[1:20]  # -1: a random seed per frame, reproducible per render
    assert len(set(random_seeds)) == 19 and all(0 <= s < 2**32 for s in random_seeds)
    assert all(fr.diffused for fr in frames)  # diffusion_cadence 1


def test_prompt_schedule_with_neg_and_weights(tiny_backend) -> None:  # noqa: ANN001
    frames = render_all(tiny(DATA / "deforum_prompts_neg_settings.txt"), tiny_backend)
    pos = "masterpiece, 35mm film,"
    expected = []
    for t in range(40):
        if t < 10:
            expected.append((((f"{pos} a quiet harbour at dawn", 1.0),), "people, boats watermark, text"))
        elif t < 24:  # "max_f/2 + 5" = 24.5 → 24
            waves = 0.5 + 0.5 * np.sin(t / 4)
            expected.append((((f"{pos} a lighthouse in a storm", 1.0), ("crashing waves", round(waves, 9))),
                             "calm sea watermark, text"))
        elif t < 34:  # "max_f - 5" = 34
            expected.append((((f"{pos} a city of lanterns at night", 1.0),), "watermark, text"))
        else:
            expected.append((((f"{pos} a field of fireflies", 1.0),), "daylight watermark, text"))
    got = [(p, fr.snapshot.prompts.negative) for p, fr in zip(prompt_texts(frames), frames, strict=True)]
    assert got == expected
    assert (column(frames, "angle") == 0.5).all() and (column(frames, "translation_y") == -1.0).all()
    assert {fr.seed for fr in frames} == {2024}  # fixed
    assert frames[0].snapshot["sampler"] == "lcm" and frames[0].snapshot["border"] == "reflect"


def test_astria_prompt_file(tiny_backend, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    frames = render_all(tiny(DATA / "astria_default_camera.txt"), tiny_backend)
    assert len(frames) == 45  # "45: end" marks the end and is not rendered
    assert (column(frames, "strength") == 0.55).all()
    assert [fr.diffused for fr in frames] == [i % 2 == 0 for i in range(45)]
    firsts = [fr.snapshot.prompts.entries[0].text.split(",")[0] for fr in frames]
    assert firsts[:15] == ["a lone astronaut walking through a field of giant sunflowers"] * 15
    assert firsts[15:30] == ["the astronaut looks up at a sky full of paper lanterns"] * 15
    assert frames[20].snapshot.prompts.negative == "blurry, low quality nsfw, nude"
    assert firsts[30:] == ["a spiral galaxy reflected in the astronaut's visor"] * 15
    # Astria's default camera, computed independently: a 3D flight with sinusoidal turns.
    t = np.arange(45)
    assert {fr.snapshot["animation_mode"] for fr in frames} == {"3d"}
    assert (column(frames, "translation_z") == -0.5).all()
    assert np.allclose(column(frames, "rotation_3d_x"), 2 * np.sin(3.14 * t / 100) / 80)
    assert np.allclose(column(frames, "rotation_3d_y"), 2 * np.sin(3.14 * t / 100) / 40)
    assert np.allclose(column(frames, "rotation_3d_z"), 2 * np.sin(3.14 * t / 50) / 40)


def test_vj_render_accepts_a_settings_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "clip.mp4"
    rc = main(["render", str(DATA / "astria_default_camera.txt"), "--out", str(out), "--model", "tiny",
               "--width", "64", "--height", "64", "--device", "cpu", "--frames", "6", "--no-progress"])
    assert rc == 0
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6
