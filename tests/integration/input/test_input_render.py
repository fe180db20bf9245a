"""Input pictures through the whole engine on the tiny model: video_mix, init image, colour anchor,
Deforum's Video Input mode, and a render continued from where it stopped."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from tests.conftest import TINY_PRESET
from tests.helpers import CollectFrames, run_vj
from tests.input_helpers import clip_colour, write_clip, write_halves
from vj.config import PresetConfig, parse_preset
from vj.engine.resume_state import load_engine_state
from vj.frames import Frame
from vj.output.recorder import VideoRecorder
from vj.session import render_offline

pytest.importorskip("cv2", reason="OpenCV is the video input's reader (pip install 'vj[headless]')")


def preset_with(extra: str, **params: object) -> PresetConfig:
    """The tiny preset plus `extra` TOML (which starts inside its [params] table)."""
    preset = parse_preset(TINY_PRESET + extra, "input-test.toml")
    return preset.replace(params={**preset.params, **params})


def render(preset: PresetConfig, backend, frames: int, **kw: object) -> list[Frame]:  # noqa: ANN001
    sink = CollectFrames()
    render_offline(preset, frames=frames, outputs=[sink], backend=backend, **kw)  # type: ignore[arg-type]
    return sink.frames


def test_video_mix_1_with_strength_1_shows_the_input(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    write_halves(tmp_path / "halves.png")  # 96x48 → covers 64x64, centre-cropped: both halves stay
    frames = render(preset_with(f'[input]\nsource = "{tmp_path / "halves.png"}"', video_mix=1.0, strength=1.0),
                    tiny_backend, 3)
    for frame in frames:
        assert tuple(frame.image[32, 2]) == (200, 30, 40) and tuple(frame.image[32, 61]) == (10, 220, 90)
    clip = write_clip(tmp_path / "clip.mkv", frames=10, fps=12)  # 12 fps clip in a 24 fps render
    frames = render(preset_with(f'[input]\nsource = "{clip}"', video_mix=1.0, strength=1.0), tiny_backend, 6)
    assert [tuple(f.image[32, 32]) for f in frames] == [clip_colour(i // 2) for i in range(6)]


def test_video_mix_0_equals_no_input(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    clip = write_clip(tmp_path / "clip.mkv")
    plain = render(preset_with(""), tiny_backend, 4)
    with_input = render(preset_with(f'[input]\nsource = "{clip}"', video_mix=0.0), tiny_backend, 4)
    half = render(preset_with(f'[input]\nsource = "{clip}"', video_mix=0.5), tiny_backend, 4)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(plain, with_input, strict=True))
    assert not any(np.array_equal(a.image, b.image) for a, b in zip(plain, half, strict=True))


def test_an_init_image_starts_the_render(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    write_halves(tmp_path / "halves.png")
    kept = render(preset_with(f'[input]\ninit_image = "{tmp_path / "halves.png"}"\ninit_strength = 1.0'),
                  tiny_backend, 2)
    assert tuple(kept[0].image[32, 2]) == (200, 30, 40) and tuple(kept[0].image[32, 61]) == (10, 220, 90)
    assert not np.array_equal(kept[0].image, kept[1].image)  # then the feedback loop takes over
    plain = render(preset_with(""), tiny_backend, 1)
    partly = render(preset_with(f'[input]\ninit_image = "{tmp_path / "halves.png"}"\ninit_strength = 0.5'),
                    tiny_backend, 1)
    assert not np.array_equal(plain[0].image, partly[0].image)


def test_colour_coherence_anchors_on_the_input_or_a_fixed_image(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    from vj.choices import ColourSpace
    from vj.engine.colour import colour_stats
    from vj.engine.input_stage import ColourAnchor, EngineInputs, InputStage
    from vj.store import ParamStore

    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 220
    snap = ParamStore().snapshot(0, 0.0, 0.04)
    picture = torch.rand(1, 3, 8, 8)
    by_input = InputStage(EngineInputs(colour_anchor=ColourAnchor.INPUT), torch.device("cpu"))
    anchor = by_input.anchor(None, picture, ColourSpace.LAB, 8, 8)
    assert anchor is not None and torch.allclose(anchor.mean, colour_stats(picture, ColourSpace.LAB).mean)
    fixed = InputStage(EngineInputs(colour_anchor=ColourAnchor.IMAGE, anchor_image=red), torch.device("cpu"))
    anchor = fixed.anchor(None, picture, ColourSpace.RGB, 8, 8)
    assert anchor is not None and torch.allclose(anchor.mean.flatten(), torch.tensor([220 / 255, 0.0, 0.0]), atol=1e-4)
    assert fixed.anchor(anchor, None, ColourSpace.NONE, 8, 8) is anchor and snap.params.video_mix == 0.0
    # end to end (strength 1: the prepared feedback is the picture, so the match shows undiluted by the
    # random tiny model): pulled toward a red image the render turns red; anchored on its first frame it does not
    write = tmp_path / "red.png"
    from PIL import Image

    Image.fromarray(red).save(write)
    toward_red = render(preset_with(f'[input]\ncolor_anchor = "image"\ncolor_image = "{write}"',
                                    color_coherence="rgb", strength=1.0), tiny_backend, 4)
    plain = render(preset_with("", color_coherence="rgb", strength=1.0), tiny_backend, 4)
    redness = [float(f.image[..., 0].mean()) - float(f.image[..., 1:].mean()) for f in (toward_red[-1], plain[-1])]
    assert redness[0] > redness[1] + 20, redness


def test_a_deforum_video_input_file_renders_each_frame_from_the_video(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    from vj.deforum.convert import load_settings

    clip = write_clip(tmp_path / "in.mkv", frames=10, fps=10)
    settings = {"W": 64, "H": 64, "max_frames": 50, "animation_mode": "Video Input", "video_init_path": str(clip),
                "extract_nth_frame": 3, "strength_schedule": "0: (1.0)", "diffusion_cadence": 2, "seed": 7,
                "prompts": {"0": "a river"}, "steps": 1, "color_coherence": "None"}
    path = tmp_path / "video_settings.txt"
    path.write_text(json.dumps(settings))
    preset = load_settings(str(path)).preset.replace(model=preset_with("").model)
    assert preset.render.frames == 4 and preset.params["cadence"] == 1  # frames 0, 3, 6, 9 are extracted
    frames = render(preset, tiny_backend, preset.render.frames)
    assert [tuple(f.image[32, 32]) for f in frames] == [clip_colour(k) for k in (0, 3, 6, 9)]
    settings["strength_schedule"] = "0: (0.5)"  # img2img of each video frame: no feedback between frames
    path.write_text(json.dumps(settings))
    half = load_settings(str(path)).preset.replace(model=preset_with("").model)
    assert all(not np.array_equal(a.image, b.image) for a, b in zip(render(half, tiny_backend, 4), frames,
                                                                       strict=True))


# ---- extending a render ---------------------------------------------------------------------
CONTINUED = """
cadence = 2
seed_behavior = "ladder"
[schedules]
angle = "0: (0), 8: (6)"
"""


def test_rendering_n_then_continuing_n_equals_rendering_2n(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    clip = write_clip(tmp_path / "in.mkv", frames=10, fps=10)
    preset = preset_with(CONTINUED + f'[input]\nsource = "{clip}"', video_mix=0.3)
    whole = render(preset, tiny_backend, 8)
    state = tmp_path / "first.resume.pt"
    first = render(preset, tiny_backend, 5, save_state=state)  # 5: the split falls inside a cadence block
    second = render(preset, tiny_backend, 3, resume_state=load_engine_state(state))
    assert [f.index for f in first + second] == list(range(8))
    for a, b in zip(whole, first + second, strict=True):
        assert np.array_equal(a.image, b.image), a.index
        assert a.seed == b.seed and a.snapshot.values == b.snapshot.values and a.diffused == b.diffused


def test_a_continued_state_that_is_not_restored_differs(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    preset = preset_with(CONTINUED)
    whole = render(preset, tiny_backend, 6)
    state = tmp_path / "s.pt"
    render(preset, tiny_backend, 3, save_state=state)
    saved = load_engine_state(state)
    saved["seeds"]["count"] += 1  # one piece of state off: the continuation is no longer the same render
    second = render(preset, tiny_backend, 3, resume_state=saved)
    assert not all(np.array_equal(a.image, b.image) for a, b in zip(whole[3:], second, strict=True))



def test_vj_render_continue_plays_on_seamlessly_in_a_new_file(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    preset_file = tmp_path / "p.toml"
    preset_file.write_text(TINY_PRESET + CONTINUED)  # CONTINUED goes on in TINY_PRESET's [params]
    first, second = tmp_path / "a.mkv", tmp_path / "b.mkv"
    done = run_vj("render", str(preset_file), "--frames", "3", "--out", str(first), "--crf", "0", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "a.jsonl").is_file() and (tmp_path / "a.resume.pt").is_file()
    refused = run_vj("render", "--continue", str(first), "--frames", "3", "--out", str(second), "--seed", "5")
    assert refused.returncode == 2 and "leave out --seed" in refused.stderr
    done = run_vj("render", "--continue", str(first), "--frames", "3", "--out", str(second), "--crf", "0",
                  "--no-progress")
    assert done.returncode == 0, done.stderr
    whole = tmp_path / "whole.mkv"  # the same 6 frames in one go, through the same lossless encoder
    recorder = VideoRecorder(whole, width=64, height=64, fps=24, live=False, crf=0)
    render_offline(parse_preset(TINY_PRESET + CONTINUED, str(preset_file)), frames=6, outputs=[recorder],
                   backend=tiny_backend)

    def decoded(path: Path) -> list[np.ndarray]:
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]

    joined = decoded(first) + decoded(second)
    assert len(joined) == 6 and all(np.array_equal(a, b) for a, b in zip(decoded(whole), joined, strict=True))
    lines = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert lines[0]["start_frame"] == 3 and lines[0]["continues"] == "a.mkv" and [x["i"] for x in lines[1:-1]] == [
        3, 4, 5]
