"""A LoRA's scale as a control target: MIDI `lora/<i>/scale`, the OSC address table, the preset base."""

from __future__ import annotations

import mido
import pytest

from vj.config import LoraConfig, ModelConfig, PresetConfig
from vj.control.midi.mapper import MidiMapper
from vj.control.midi.mapping_file import parse_mapping, valid_target
from vj.control.midi.targets import ParamTarget, parse_target
from vj.control.osc import address_map
from vj.errors import ConfigError
from vj.registry import MAX_LORAS, REGISTRY, FrameParams, lora_scale_name
from vj.session.presets import base_values
from vj.store import ParamStore


def test_lora_targets_name_their_parameter() -> None:
    target = parse_target("lora/2/scale")
    assert target == ParamTarget("lora/2/scale", "lora_2_scale")
    assert target is not None and target.name == "lora_2_scale" and str(target) == "lora/2/scale"
    assert target.default_range() == (-4.0, 4.0)
    assert parse_target("lora_2_scale") == ParamTarget("lora_2_scale")
    for bad in (f"lora/{MAX_LORAS}/scale", "lora/x/scale", "lora/0/weight"):
        assert parse_target(bad) is None and not valid_target(bad)


def test_a_midi_knob_drives_the_lora_scale() -> None:
    m = MidiMapper(parse_mapping('[[cc]]\ncontrol = 5\nparam = "lora/1/scale"\nmin = 0.0\nmax = 2.0\n', "t.toml"),
                   ParamStore())
    m.handle(mido.Message("control_change", control=5, value=127))
    assert m.store.live_overrides() == {"lora_1_scale": pytest.approx(2.0)}


def test_every_slot_is_a_parameter_without_smoothing_and_has_an_address() -> None:
    for i in range(MAX_LORAS):
        spec = REGISTRY[lora_scale_name(i)]
        assert spec.smoothing_s == 0.0 and (spec.minimum, spec.maximum) == (-4.0, 4.0)
    assert any(row.address == "/vj/lora/<i>/scale" for row in address_map())
    # the engine's per-frame tuple covers exactly the slots, in order
    values = FrameParams.from_values({**{n: s.default for n, s in REGISTRY.items()},
                                      **{lora_scale_name(i): float(i) for i in range(MAX_LORAS)}})
    assert values.lora_scales() == tuple(float(i) for i in range(MAX_LORAS))
    assert not any(n.startswith("lora_") and n not in map(lora_scale_name, range(MAX_LORAS)) for n in REGISTRY)


def test_the_preset_scale_is_the_base_value(tiny_preset: PresetConfig) -> None:
    loras = (LoraConfig(source="a/b", scale=0.4), LoraConfig(source="c/d", scale=-1.0))
    preset = tiny_preset.replace(model=ModelConfig(source="tiny", loras=loras))
    base = base_values(preset, None)
    assert base["lora_0_scale"] == 0.4 and base["lora_1_scale"] == -1.0 and "lora_2_scale" not in base
    # a value in the preset's own parameters wins over the model's scale
    assert base_values(preset.replace(params={**preset.params, "lora_1_scale": 2.0}), None)["lora_1_scale"] == 2.0


def test_more_loras_than_slots_are_refused() -> None:
    with pytest.raises(ConfigError, match="at most 4 LoRAs"):
        ModelConfig(source="tiny", loras=tuple(LoraConfig(source=f"a/b{i}") for i in range(MAX_LORAS + 1)))
