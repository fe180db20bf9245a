"""Presets: overrides only, refused whole with file, key path, expected and found."""

from __future__ import annotations

import dataclasses

import pytest

from vj.config import (
    LfoConfig,
    ModelConfig,
    ModulatorsConfig,
    PresetConfig,
    PromptItem,
    PromptsConfig,
    RenderConfig,
    ScheduleConfig,
    parse_preset,
)
from vj.errors import ConfigError
from vj.preset_files import list_presets, load_preset


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
    ("[params]\nsteps = 2.5\n", "params.steps", "a whole number in 1..4", "2.5"),
    ("[[prompts.mix]]\nweight = 0.5\n", "prompts.mix[0].text", "a prompt text", "no text key"),
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


def test_diffusion_and_dtype_overrides_are_validated_like_presets() -> None:
    preset = load_preset("drift").with_overrides(guidance=4.5, sampler="lcm", strength=0.3, dtype="bfloat16")
    assert (preset.params["guidance"], preset.params["sampler"], preset.params["strength"], preset.model.dtype) == \
        (4.5, "lcm", 0.3, "bfloat16")
    assert "guidance" not in load_preset("drift").with_overrides().params  # left out: the model's or preset's
    for bad, where in ((dict(guidance=25.0), "params.guidance"), (dict(sampler="ddim"), "params.sampler"),
                       (dict(strength=1.5), "params.strength"), (dict(dtype="fp16"), "model.dtype")):
        with pytest.raises(ConfigError, match=f"command line: {where}"):
            load_preset("drift").with_overrides(**bad)


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


@pytest.mark.parametrize(("build", "message"), [
    (lambda: ModelConfig(device="gpu"), "ModelConfig: device: expected one of auto, cuda, mps, cpu, found 'gpu'"),
    (lambda: ModelConfig(source=3), "ModelConfig: source: expected a string, found 3"),
    (lambda: RenderConfig(width=-3), "RenderConfig: width: expected a multiple of 8 in 64..2048, found -3"),
    (lambda: RenderConfig(height=512.0), "RenderConfig: height: expected an integer, found 512.0"),
    (lambda: RenderConfig(frames=True), "RenderConfig: frames: expected an integer, found True"),
    (lambda: RenderConfig(fps=float("nan")), "RenderConfig: fps: expected a number, found nan"),
    (lambda: RenderConfig(fps="24"), "RenderConfig: fps: expected a number, found '24'"),
    (lambda: PromptItem(weight=-1), "PromptItem: weight: expected a value in 0..10, found -1"),
    (lambda: PromptItem(text="a" * 1001), "PromptItem: text: expected at most 1000 characters"),
    (lambda: PromptsConfig(mix=("a tunnel",)), "PromptsConfig: mix[0]: expected a PromptItem, found 'a tunnel'"),
    (lambda: ScheduleConfig(end="bounce"), "ScheduleConfig: end: expected one of hold, loop, found 'bounce'"),
    (lambda: LfoConfig(shape="wobble"), "LfoConfig: shape: expected one of sine, triangle"),
    (lambda: ModulatorsConfig(bpm=500), "ModulatorsConfig: bpm: expected a value in 20..300, found 500"),
    (lambda: ModulatorsConfig(lfo={"zooom": LfoConfig()}), "ModulatorsConfig: lfo.zooom: expected a numeric"),
    (lambda: ModulatorsConfig(lfo={"zoom": {"rate": 2}}), "ModulatorsConfig: lfo.zoom: expected a LfoConfig"),
    (lambda: PresetConfig(render={"width": 256}), "PresetConfig: render: expected a RenderConfig"),
    (lambda: PresetConfig(params={"zoom": 3.0}), "PresetConfig: params.zoom: expected a number in 0.5..2"),
    (lambda: PresetConfig(schedules={"zoom": 1.0}), "PresetConfig: schedules.zoom: expected a string, found 1.0"),
    (lambda: PresetConfig(name=None), "PresetConfig: name: expected a string, found None"),
])
def test_configs_built_in_code_are_refused_naming_class_and_field(build, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError) as info:
        build()
    assert str(info.value).startswith(message)


def test_replacing_a_field_in_code_is_validated_too() -> None:
    preset = load_preset("drift")
    with pytest.raises(ConfigError, match=r"^RenderConfig: width: expected a multiple of 8"):
        dataclasses.replace(preset.render, width=100)
    with pytest.raises(ConfigError, match=r"^PresetConfig: params.steps: expected a number in 1..4"):
        preset.replace(params={**preset.params, "steps": 9})


def test_code_built_configs_are_normalised_and_frozen() -> None:
    render = RenderConfig(fps=30)
    assert isinstance(render.fps, float) and render.fps == 30.0
    preset = PresetConfig(params={"steps": 2.0}, prompts=PromptsConfig(mix=[PromptItem(text="a")]))
    assert preset.params["steps"] == 2 and isinstance(preset.params["steps"], int)
    assert isinstance(preset.prompts.mix, tuple)
    with pytest.raises(TypeError):
        preset.params["zoom"] = 1.0  # type: ignore[index]


def test_a_preset_file_still_names_the_file_and_full_key_path() -> None:
    with pytest.raises(ConfigError) as info:
        parse_preset("[render]\nwidth = -3\n", "tiny.toml")
    assert str(info.value) == "tiny.toml: render.width: expected a multiple of 8 in 64..2048, found -3"
    with pytest.raises(ConfigError) as info:
        parse_preset("[modulators.lfo.zoom]\nphase = 2\n", "tiny.toml")
    assert str(info.value) == "tiny.toml: modulators.lfo.zoom.phase: expected a value in 0..1, found 2"


@pytest.mark.parametrize(("device", "ok"), [("cuda:1", True), ("cuda:²", False), ("cuda:١", False), ("cuda:", False)])
def test_a_cuda_device_index_is_ascii_digits(device: str, ok: bool) -> None:
    text = f'[model]\ndevice = "{device}"\n'
    if ok:
        assert parse_preset(text).model.device == device
    else:
        with pytest.raises(ConfigError, match="model.device"):
            parse_preset(text)
