"""What a live preset switch keeps of the loaded model, LoRAs and ControlNets (real preset TOML)."""

from __future__ import annotations

import logging

import pytest

from vj.config import PresetConfig, parse_preset
from vj.session.switch_policy import keep_loaded


def preset(name: str, model: str = "tiny", loras: str = "", controlnet: str = "") -> PresetConfig:
    text = f'[preset]\nname = "{name}"\n[model]\nsource = "{model}"\n{loras}\n{controlnet}'
    return parse_preset(text, f"{name}.toml")


STYLE = 'loras = [{source = "style.safetensors", scale = 0.8}]'
STYLE_SOFT = 'loras = [{source = "style.safetensors", scale = 0.3}]'
OTHER = 'loras = [{source = "other.safetensors", scale = 1.0}]'
CANNY = '[[controlnet]]\nsource = "tiny"\nconditioning = "canny"\nscale = 0.9'
CANNY_SOFT = '[[controlnet]]\nsource = "tiny"\nconditioning = "canny"\nscale = 0.2'
DEPTH = '[[controlnet]]\nsource = "tiny"\nconditioning = "depth"\nscale = 1.0'


def test_the_same_loras_and_units_take_the_switched_presets_scales_quietly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        kept = keep_loaded(preset("show", loras=STYLE, controlnet=CANNY), preset("b", loras=STYLE_SOFT,
                                                                                  controlnet=CANNY_SOFT))
    assert [lora.scale for lora in kept.model.loras] == [0.3] and [u.scale for u in kept.controlnet] == [0.2]
    assert kept.notes == () and not caplog.records


def test_another_model_loras_or_units_are_kept_said_once_and_noted(caplog: pytest.LogCaptureFixture) -> None:
    show = preset("show", loras=STYLE, controlnet=CANNY)
    with caplog.at_level(logging.WARNING):
        kept = keep_loaded(show, preset("b", loras=OTHER, controlnet=DEPTH))
    assert kept.model == show.model and kept.controlnet == show.controlnet
    assert kept.notes == ("LoRAs kept: 1 (preset names 1)", "ControlNets kept: 1 (preset names others)")
    assert len(caplog.records) == 2 and "other.safetensors" in caplog.records[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        kept = keep_loaded(show, preset("c", model="stabilityai/sd-turbo"))
    assert kept.model == show.model and kept.notes == ("model kept: tiny (preset names stabilityai/sd-turbo)",)
    assert len(caplog.records) == 1


def test_a_preset_naming_no_loras_or_units_plays_on_with_the_shows(caplog: pytest.LogCaptureFixture) -> None:
    show = preset("show", loras=STYLE, controlnet=CANNY)
    with caplog.at_level(logging.WARNING):
        kept = keep_loaded(show, preset("plain"))
    assert kept.model == show.model and kept.controlnet == show.controlnet and kept.notes == ()
    assert not caplog.records
