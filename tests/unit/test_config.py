"""Presets: overrides only, refused whole with file, key path, expected and found."""

from __future__ import annotations

import pytest

from vj.config import list_presets, load_preset, parse_preset
from vj.errors import ConfigError


@pytest.mark.parametrize(("text", "key", "expected", "found"), [
    ("[render]\nwidht = 256\n", "render.widht", "one of the keys", "widht"),
    ("[render]\nwidth = 250\n", "render.width", "a multiple of 8", "250"),
    ("[render]\nfps = \"fast\"\n", "render.fps", "a number", "fast"),
    ("[params]\nzoom = 3.0\n", "params.zoom", "0.5..2", "3.0"),
    ("[params]\nzooom = 1.0\n", "params.zooom", "a parameter name", "zooom"),
    ("[params]\nborder = \"mirror\"\n", "params.border", "replicate, reflect, wrap", "mirror"),
    ("[model]\ndevice = \"tpu\"\n", "model.device", "auto, cuda, mps, cpu", "tpu"),
    ("[[prompts.mix]]\ntext = \"a\"\nweight = -1\n", "prompts.mix[0].weight", "0..10", "-1"),
    ("[preset]\nauthor = \"me\"\n", "preset.author", "description, name", "author"),
    ("colour = 1\n", "colour", "one of the keys", "colour"),
])
def test_bad_presets_name_file_key_expected_and_found(text: str, key: str, expected: str, found: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_preset(text, "looks/bad.toml")
    message = str(info.value)
    assert message.startswith(f"looks/bad.toml: {key}: expected ")
    assert expected in message and found in message


def test_invalid_toml_is_refused_with_the_parser_message() -> None:
    with pytest.raises(ConfigError, match="valid TOML"):
        parse_preset("[render\nwidth=1", "x.toml")


def test_only_overrides_are_needed() -> None:
    preset = parse_preset("[params]\nzoom = 1.02\n", "p.toml")
    assert preset.params == {"zoom": 1.02}
    assert preset.render.width == 512 and preset.model.source == "stabilityai/sd-turbo"


def test_shipped_presets_load_with_real_prompts() -> None:
    presets = list_presets()
    assert len(presets) >= 4
    for path in presets:
        preset = load_preset(str(path))
        assert preset.prompts.mix and all(len(p.text.split()) >= 5 for p in preset.prompts.mix)


def test_command_line_overrides_are_validated_like_presets() -> None:
    preset = load_preset("zoom-tunnel").with_overrides(model="tiny", width=128, steps=2, seed=7)
    assert (preset.model.source, preset.render.width, preset.params["steps"], preset.params["seed"]) == \
        ("tiny", 128, 2, 7)
    with pytest.raises(ConfigError, match="command line: params.steps"):
        load_preset("zoom-tunnel").with_overrides(steps=9)
    with pytest.raises(ConfigError, match="command line: render.height"):
        load_preset("zoom-tunnel").with_overrides(height=100)


def test_unknown_preset_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="zoom-tunnel"):
        load_preset("no-such-look")


def test_compile_override_sets_the_mode_and_leaving_it_out_keeps_the_preset() -> None:
    preset = load_preset("drift")
    assert preset.model.compile == "off"
    assert preset.with_overrides(compile="aot").model.compile == "aot"
    assert preset.with_overrides(compile="aot").with_overrides().model.compile == "aot"


def test_compile_mode_must_be_a_known_one() -> None:
    with pytest.raises(ConfigError, match=r"model.compile.*one of off, auto, jit, aot.*'fast'"):
        load_preset("drift").with_overrides(compile="fast")
    with pytest.raises(ConfigError, match=r"model.compile"):
        parse_preset("[model]\ncompile = true\n", "old.toml")
