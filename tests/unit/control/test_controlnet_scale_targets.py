"""A ControlNet unit's scale as a control target: MIDI `controlnet/<i>/scale`, the OSC address table,
the preset base, the slot count, and the engine's pick of the loaded units' scales."""

from __future__ import annotations

import logging

import mido
import pytest

from vj.config import ControlNetConfig, PresetConfig
from vj.control.midi.mapper import MidiMapper
from vj.control.midi.mapping_file import parse_mapping, valid_target
from vj.control.midi.targets import ParamTarget, parse_target
from vj.control.osc import address_map
from vj.engine.controlnet.scales import ControlNetScales
from vj.errors import ConfigError
from vj.registry import MAX_CONTROLNETS, MAX_LORAS, REGISTRY, FrameParams, controlnet_scale_name, unused_slots
from vj.session.presets import base_values
from vj.store import ParamStore


def _params(**values: float) -> FrameParams:
    return FrameParams.from_values({**{n: s.default for n, s in REGISTRY.items()}, **values})


def test_controlnet_targets_name_their_parameter() -> None:
    target = parse_target("controlnet/3/scale")
    assert target == ParamTarget("controlnet/3/scale", "controlnet_3_scale")
    assert target is not None and target.name == "controlnet_3_scale" and str(target) == "controlnet/3/scale"
    assert target.default_range() == (0.0, 2.0)
    for bad in (f"controlnet/{MAX_CONTROLNETS}/scale", "controlnet/x/scale", "controlnet/0/weight"):
        assert parse_target(bad) is None and not valid_target(bad)


def test_a_midi_knob_drives_a_unit_scale() -> None:
    mapping = parse_mapping('[[cc]]\ncontrol = 7\nparam = "controlnet/1/scale"\n', "t.toml")
    m = MidiMapper(mapping, ParamStore())
    m.handle(mido.Message("control_change", control=7, value=127))
    assert m.store.live_overrides() == {"controlnet_1_scale": pytest.approx(2.0)}


def test_every_slot_is_a_parameter_with_an_address() -> None:
    for i in range(MAX_CONTROLNETS):
        spec = REGISTRY[controlnet_scale_name(i)]
        assert (spec.minimum, spec.maximum, spec.default, spec.group) == (0.0, 2.0, 1.0, "controlnet")
    assert any(row.address == "/vj/controlnet/<i>/scale" for row in address_map())
    values = _params(**{controlnet_scale_name(i): i / 4 for i in range(MAX_CONTROLNETS)})
    assert values.controlnet_scales() == tuple(i / 4 for i in range(MAX_CONTROLNETS))
    names = set(map(controlnet_scale_name, range(MAX_CONTROLNETS))) | {"controlnet_scale"}
    assert {n for n in REGISTRY if n.startswith("controlnet_")} == names


def test_the_unit_scale_is_the_base_value(tiny_preset: PresetConfig) -> None:
    units = (ControlNetConfig(source="tiny", scale=0.4), ControlNetConfig(source="tiny", scale=1.5))
    preset = tiny_preset.replace(controlnet=units)
    base = base_values(preset, None)
    assert base["controlnet_0_scale"] == 0.4 and base["controlnet_1_scale"] == 1.5
    assert "controlnet_2_scale" not in base
    assert base_values(preset.replace(params={**preset.params, "controlnet_1_scale": 0.0}), None)[
        "controlnet_1_scale"] == 0.0  # the preset's own value wins


def test_more_units_than_slots_are_refused(tiny_preset: PresetConfig) -> None:
    with pytest.raises(ConfigError, match="at most 4 ControlNets"):
        tiny_preset.replace(controlnet=tuple(ControlNetConfig(source="tiny") for _ in range(MAX_CONTROLNETS + 1)))
    with pytest.raises(ConfigError, match="at most 4 ControlNets"):
        tiny_preset.with_overrides(controlnets=[("tiny", "canny", 1.0)] * (MAX_CONTROLNETS + 1))


def test_the_engine_takes_the_loaded_units_and_logs_an_empty_slot_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="vj.engine.controlnet.scales")
    scales = ControlNetScales(2)
    assert scales.scales(_params(controlnet_0_scale=0.5, controlnet_3_scale=0.1)) == (0.5, 1.0)  # a base, no write
    assert not caplog.records
    for value in (0.2, 0.3):
        assert scales.scales(_params(controlnet_1_scale=value, controlnet_3_scale=value)) == (1.0, value)
    assert [r.getMessage() for r in caplog.records] == [
        "controlnet_3_scale ignored: the preset carries 2 ControlNet unit(s) (slots 0..1)"]
    none = ControlNetScales(0)
    none.scales(_params())
    assert none.scales(_params(controlnet_0_scale=0.0)) == ()
    assert "controlnet_0_scale ignored: the preset carries 0 ControlNet unit(s)" in caplog.records[-1].getMessage()
    with pytest.raises(ValueError, match="0..4"):
        ControlNetScales(MAX_CONTROLNETS + 1)


def test_unused_slots_are_those_past_what_was_loaded() -> None:
    assert unused_slots(MAX_LORAS, MAX_CONTROLNETS) == frozenset()
    assert unused_slots(1, 3) == {"lora_1_scale", "lora_2_scale", "lora_3_scale", "controlnet_3_scale"}
