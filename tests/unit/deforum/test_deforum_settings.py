"""Deforum settings and Astria import, conversion to presets, prompt schedules, `vj schedule`/`vj convert`."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest

from vj.cli import main
from vj.deforum.astria import ASTRIA_DEFAULT_CAMERA, parse_astria
from vj.deforum.convert import load_settings, sniff
from vj.deforum.settings import convert_settings
from vj.errors import ConfigError
from vj.preset_files import load_preset
from vj.schedule.expressions import ExpressionError
from vj.schedule.keyframes import ScheduleContext, compile_preset_schedules
from vj.schedule.prompts import merge_globals, parse_prompt_schedule, split_negative

DATA = Path(__file__).parents[2] / "data"
TUNNEL = DATA / "deforum_zoom_tunnel_settings.txt"
ROTATION = DATA / "deforum_rotation_expressions_settings.txt"
PROMPTS = DATA / "deforum_prompts_neg_settings.txt"
ASTRIA = DATA / "astria_default_camera.txt"


# ------------------------------------------------------------------------- prompt schedules
def test_split_and_merge_like_deforum() -> None:
    assert split_negative("a cat --neg dog --neg x") == ("a cat", "dog --neg x")
    assert merge_globals("a cat", "best,", "nsfw") == "best, a cat --neg nsfw"
    assert merge_globals("a cat --neg dog", "", "nsfw") == "a cat --neg dog nsfw"
    assert merge_globals("a cat", "", "") == "a cat"


def test_prompt_schedule_cuts_at_keys_and_holds() -> None:
    ctx = ScheduleContext(30)
    ps = parse_prompt_schedule({"5": "a --neg x", "max_f/2": "b", "100": "never"}, ctx, negative="g")
    assert [(e.text, e.weight) for e in ps(0).entries] == [("a", 1.0)]  # first prompt holds backwards
    assert ps(13).negative == "x g" and ps(14).entries[0].text == "b" and ps(14).negative == "g"
    assert ps(500).entries[0].text == "b"


def test_prompt_crossfade_weights_move_per_frame() -> None:
    ps = parse_prompt_schedule({"0": "a", "10": "b"}, ScheduleContext(30), fade_frames=4)
    weights = [{e.text: e.weight for e in ps(f).entries} for f in range(9, 15)]
    assert weights == [{"a": 1.0}, {"a": 0.75, "b": 0.25}, {"a": 0.5, "b": 0.5}, {"a": 0.25, "b": 0.75},
                       {"b": 1.0}, {"b": 1.0}]


def test_weighted_sub_prompts_with_expressions_and_inline_maths() -> None:
    ps = parse_prompt_schedule({"0": "a cat :0.5 AND a dog :`t/max_f` AND (hat:`1+t/10`)"}, ScheduleContext(11))
    mix = ps(5)
    assert [(e.text, e.weight) for e in mix.entries] == [("a cat", 0.5), ("a dog", 0.5), ("(hat:1.5)", 1.0)]


@pytest.mark.parametrize(("prompts", "fragment"), [
    ({"0": "a :11"}, "weight 11"),
    ({"0": "a :`sinn(t)`"}, "unknown function 'sinn'"),
    ({"0": "a :`__import__('os')`"}, "unknown function '__import__'"),
    ({"0": " :0.5 AND b"}, "empty sub-prompt"),
    ({"zz": "a"}, "unknown name 'zz'"),
    ({"0": "a :`1/(t-3)`"}, "value is inf at frame 3"),
    ({"50": "a"}, "no prompt key inside"),
])
def test_prompt_schedule_errors(prompts: dict[str, str], fragment: str) -> None:
    with pytest.raises(ExpressionError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_prompt_schedule(prompts, ScheduleContext(10))


# ------------------------------------------------------------------------- settings import
def test_zoom_tunnel_settings(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        result = load_settings(str(TUNNEL))
    preset = result.preset
    assert (preset.render.width, preset.render.height, preset.render.frames, preset.render.fps) == (512, 512, 48, 12)
    assert preset.params["cadence"] == 2 and preset.params["seed"] == 3141
    assert preset.params["noise_type"] == "perlin" and preset.params["color_coherence"] == "lab"
    assert preset.params["prompt_fade_s"] == 0.0  # Deforum cuts between prompts
    assert set(preset.schedules) == {"zoom", "translation_x", "strength"}
    assert preset.prompt_schedule["24"].endswith("underwater --neg nsfw, nude")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # ONE warning lists everything left out
    text = warnings[0].getMessage()
    for key in ("kernel_schedule", "noise_multiplier_schedule", "steps=25",
                "enable_perspective_flip", "hybrid_composite", "sd_model_name"):
        assert key in text
    for key in ("translation_z", "depth_algorithm", "padding_mode", "sampling_mode", "midas_weight"):
        assert key not in text  # 3D keys do nothing in 2D mode, in Deforum too
    assert "depth" not in result.data


def test_rotation_settings_map_units_and_seed_schedule() -> None:
    preset = load_settings(str(ROTATION)).preset
    assert preset.params["border"] == "wrap" and preset.params["noise_type"] == "gaussian"
    assert preset.params["color_coherence"] == "hsv" and preset.params["seed_behavior"] == "schedule"
    compiled = compile_preset_schedules(preset)
    assert compiled["antiblur_threshold"](30) == pytest.approx(12.75 / 255)  # 0-255 levels → fraction
    assert compiled["antiblur_threshold"](15) == pytest.approx(12.75 / 255 / 2)  # still interpolated
    assert compiled["seed"](0) == 77 and compiled["seed"](25) == 97


def test_astria_file() -> None:
    settings = parse_astria(ASTRIA.read_text(), "a.txt")
    assert settings["max_frames"] == 45 and settings["animation_mode"] == "3D"
    assert list(settings["prompts"]) == ["0", "15", "30"]  # the last prompt marks the end
    assert all(settings[k] == v for k, v in ASTRIA_DEFAULT_CAMERA.items())
    assert settings["strength_schedule"] == "0:(0.55)" and settings["seed"] == 1 and settings["diffusion_cadence"] == 2
    result = convert_settings(settings, "a.txt")
    assert result.preset.render.frames == 45 and result.preset.params["strength"] == 0.55
    assert result.preset.params["animation_mode"] == "3d"  # the 3D camera is honoured (vj.engine.warp.warp3d)
    assert result.preset.params["translation_z"] == -0.5
    assert {"rotation_3d_x", "rotation_3d_y", "rotation_3d_z"} <= set(result.preset.schedules)
    assert not {"translation_z", "rotation_3d_x", "animation_mode"} & set(result.unsupported)
    assert "zoom" not in result.data.get("schedules", {}) and "zoom" not in result.data["params"]  # 3D ignores zoom


def test_astria_camera_given_replaces_default_and_pipe_lines() -> None:
    settings = parse_astria("translation_x=0:(1)|zoom=0:(where(t>2, 1.01, 1.0))\n0: a\n10: b\n", "a.txt")
    assert settings["zoom"] == "0:(where(t>2, 1.01, 1.0))" and "translation_z" not in settings


@pytest.mark.parametrize(("text", "fragment"), [
    ("0: only one\n", "at least two"),
    ("0: a\nseed=3\n10: b\n", "parameters come before the prompts"),
    ("10: a\n0: b\n", "increasing order"),
    ("what is this\n0: a\n5: b\n", "'key=schedule' or 'frame: prompt'"),
])
def test_astria_errors(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_astria(text, "a.txt")


def test_bad_schedule_in_settings_names_deforum_key_and_column() -> None:
    with pytest.raises(ExpressionError, match=r"^s.txt: zoom: column 13: unknown function 'sinn'"):
        convert_settings({"zoom": "0: (1), 5: (sinn(t))"}, "s.txt")
    with pytest.raises(ExpressionError, match=r"^s.txt: angle: column 5: attribute access"):
        convert_settings({"angle": "0: (t.__class__)"}, "s.txt")
    with pytest.raises(ConfigError, match=r"^s.txt: W \(render.width\): expected a multiple of 8"):
        convert_settings({"W": 500}, "s.txt")
    with pytest.raises(ConfigError, match="Parseq manifest"):
        convert_settings({"rendered_frames": []}, "s.txt")


def test_seed_minus_one_is_resolved_and_said(caplog: pytest.LogCaptureFixture) -> None:
    result = convert_settings({"seed": -1}, "s.txt", rng=random.Random(5))
    assert result.preset.params["seed"] == random.Random(5).randrange(2**32)
    assert any("seed -1 (random) resolved" in n for n in result.notes)


def test_cadence_above_vj_range_is_clamped_and_listed() -> None:
    result = convert_settings({"diffusion_cadence": 12}, "s.txt")
    assert result.preset.params["cadence"] == 8 and result.unsupported["diffusion_cadence"] == 12


def test_sniff(tmp_path: Path) -> None:
    assert sniff(str(TUNNEL)) == "deforum" and sniff(str(ASTRIA)) == "astria"
    toml = tmp_path / "p.toml"
    toml.write_text("[render]\nfps = 24\n")
    assert sniff(str(toml)) is None and sniff("0: (1)") is None


# ------------------------------------------------------------------------- CLI
def test_convert_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tunnel.toml"
    assert main(["convert", str(TUNNEL), str(out), "--prompt-crossfade", "6"]) == 0
    text = out.read_text()
    assert text.startswith("# Converted by `vj convert`") and "#   kernel_schedule" in text
    preset = load_preset(str(out))
    direct = load_settings(str(TUNNEL), prompt_crossfade_frames=6).preset
    assert preset.schedules == direct.schedules and preset.params == direct.params
    assert preset.params["prompt_fade_s"] == pytest.approx(0.5)  # 6 frames at 12 fps


def test_schedule_command_table_csv_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", str(TUNNEL), "--param", "zoom", "--param", "strength", "--frames", "10:14", "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "frame,zoom,strength"
    rows = [[float(x) for x in line.split(",")] for line in lines[1:]]
    assert [r[0] for r in rows] == [10, 11, 12, 13]
    np.testing.assert_allclose([r[1] for r in rows], [1 + 0.04 * 10 / 12, 1 + 0.04 * 11 / 12, 1.04, 1.04], rtol=1e-5)
    np.testing.assert_allclose([r[2] for r in rows], [0.6 - 0.15 * f / 24 for f in (10, 11, 12, 13)], rtol=1e-5)
    png = tmp_path / "plot.png"
    assert main(["schedule", "0: (0), 10: (5*sin(t/3))", "--max-frames", "30", "--plot", str(png)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["frame", "schedule"] and len(table) == 31
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_schedule_command_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "0: (1), 10: (sinn(t))", "--max-frames", "20"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vj: error: schedule: column 14: unknown function 'sinn'")
    assert main(["schedule", "0: (1)"]) == 2
    assert "--max-frames" in capsys.readouterr().err


def test_schedule_command_on_a_preset_shows_prompts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text('[render]\nframes = 6\n[schedules]\nangle = "0: (t)"\n'
                      '[prompt_schedule]\n"0" = "a"\n"3" = "b --neg c"\n')
    assert main(["schedule", str(preset)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["frame", "angle", "prompt"]
    assert rows[3] == ["2", "2", "a"] and rows[4] == ["3", "3", "b", "--neg", "c"]


def test_settings_json_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad_settings.txt"
    bad.write_text('{"zoom": "0: (1)",\n "angle": }')
    with pytest.raises(ConfigError, match="bad_settings.txt: line 2: expected valid JSON"):
        load_settings(str(bad))
    listed = tmp_path / "list_settings.txt"
    listed.write_text(json.dumps({"prompts": ["a"]}))
    with pytest.raises(ConfigError, match="prompts: expected an object"):
        load_settings(str(listed))


def test_a_3d_file_brings_padding_sampling_near_far_and_its_depth_model() -> None:
    settings = {"animation_mode": "3D", "padding_mode": "zeros", "sampling_mode": "nearest",
                "near_schedule": "0: (300)", "far_schedule": "0: (5000)", "depth_algorithm": "Zoe",
                "midas_weight": 0.3, "border": "wrap", "prompts": {"0": "a"}, "seed": 1}
    result = convert_settings(settings, "s.txt")
    params = result.preset.params
    assert params["border"] == "zeros" and params["sampling_mode"] == "nearest"  # 3D pads by padding_mode
    assert params["near"] == 300 and params["far"] == 5000
    assert result.preset.depth.model == "Zoe" and "depth_weight" not in params  # midas_weight: "(old)" blends only
    assert not {"padding_mode", "sampling_mode", "depth_algorithm", "midas_weight", "border"} & set(result.unsupported)
    assert any("Intel/zoedepth-nyu-kitti" in note for note in result.notes)
    old = convert_settings({**settings, "depth_algorithm": "Midas+AdaBins (old)"}, "s.txt")
    assert old.preset.params["depth_weight"] == 0.3
    flat = convert_settings({**settings, "use_depth_warping": False}, "s.txt")
    assert flat.preset.depth.model == "none"
    defaults = convert_settings({"animation_mode": "3D", "prompts": {"0": "a"}, "seed": 1}, "s.txt").preset
    assert defaults.params["sampling_mode"] == "bicubic" and defaults.params["border"] == "replicate"  # Deforum's
    assert defaults.depth.model == ""  # no depth_algorithm in the file: vj's default model
    bad = convert_settings({**settings, "depth_algorithm": "Marigold"}, "s.txt")
    assert bad.unsupported["depth_algorithm"] == "Marigold"
