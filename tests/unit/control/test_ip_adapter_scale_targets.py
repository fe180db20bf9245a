"""ip_adapter_scale is a parameter like any other: the registry's range, OSC, MIDI, the page, an LFO, a
preset and the typed frame view; out of range is refused with the range named."""

from __future__ import annotations

import mido
import pytest
from pythonosc.osc_message_builder import OscMessageBuilder

from vj.config import parse_preset
from vj.control.commands import ShowActions
from vj.control.midi.mapper import MidiMapper
from vj.control.midi.mapping_file import parse_mapping
from vj.control.modulators import Lfo, LfoShape, ModulatorBank
from vj.control.osc.route import OscRouter
from vj.control.tempo import Quantiser, TempoClock
from vj.errors import ConfigError, ParamRejected
from vj.registry import REGISTRY, FrameParams
from vj.store import ParamStore
from vj.web.context import WebContext
from vj.web.protocol import WebProtocol


def test_the_scale_and_fade_are_registry_parameters() -> None:
    scale, fade = REGISTRY["ip_adapter_scale"], REGISTRY["reference_fade_s"]
    assert (scale.minimum, scale.maximum, scale.default, scale.group) == (0.0, 2.0, 0.6, "reference")
    assert (fade.minimum, fade.maximum, fade.unit) == (0.0, 60.0, "s")
    params = FrameParams.from_values({**{n: s.default for n, s in REGISTRY.items()}, "ip_adapter_scale": 1.5})
    assert params.ip_adapter_scale == 1.5
    with pytest.raises(ParamRejected, match=r"ip_adapter_scale: expected 0\.\.2"):
        scale.validate(2.5)


def test_osc_the_page_midi_and_an_lfo_drive_it() -> None:
    store = ParamStore()
    router = OscRouter(store, ShowActions())
    for value in (0.8, 3.0):
        builder = OscMessageBuilder("/vj/ip_adapter_scale")
        builder.add_arg(value)
        writes = router.route([builder.build()])
        router.commit(writes)
    assert store.live_overrides()["ip_adapter_scale"] == pytest.approx(0.8)  # OSC floats are 32-bit
    assert [r.reason for r in writes.rejections] == ["out_of_range"]
    tempo = TempoClock(120.0)
    bank = ModulatorBank(store, tempo, engine_time=True)
    actions = ShowActions(tempo=tempo, quantiser=Quantiser(tempo), modulators=bank)
    web = WebProtocol(WebContext(store=store, actions=actions))
    assert web.handle({"set": {"ip_adapter_scale": 1.25}}) == []
    assert store.live_overrides()["ip_adapter_scale"] == 1.25
    assert web.handle({"set": {"ip_adapter_scale": -1}})[0]["error"]["reason"] == "out_of_range"
    mapper = MidiMapper(parse_mapping('[[cc]]\ncontrol = 9\nparam = "ip_adapter_scale"\n', "t.toml"), store)
    mapper.handle(mido.Message("control_change", control=9, value=127))
    assert store.live_overrides()["ip_adapter_scale"] == pytest.approx(2.0)
    store.release("ip_adapter_scale")
    assert bank.assign("ip_adapter_scale", Lfo(LfoShape.SINE, rate=4.0, depth=0.3))
    assert store.snapshot(0, 0.5, 0.04).num("ip_adapter_scale") == pytest.approx(0.6 + 0.3)
    actions.quantiser.close()


def test_a_preset_sets_it_and_refuses_a_value_out_of_range() -> None:
    preset = parse_preset("[params]\nip_adapter_scale = 0.3\nreference_fade_s = 4\n", "p.toml")
    assert preset.params["ip_adapter_scale"] == 0.3
    with pytest.raises(ConfigError, match="ip_adapter_scale"):
        parse_preset("[params]\nip_adapter_scale = 2.5\n", "p.toml")
    with pytest.raises(ConfigError, match=r"reference\.images"):
        parse_preset('[reference]\nimages = ["a.png"]\n', "p.toml")  # no IP-Adapter to steer with it
    with pytest.raises(ConfigError, match=r"weights"):
        parse_preset('[model]\nip_adapter = "tiny"\n[reference]\nimages = ["a.png"]\nweights = [1, 2]\n', "p.toml")
    with pytest.raises(ConfigError, match=r"ip_adapter"):
        parse_preset('[model]\nip_adapter = "tiny"\ncompile = "aot"\n', "p.toml")


def test_a_reference_folder_without_an_adapter_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"reference\.folder"):
        parse_preset('[reference]\nfolder = "refs"\n', "p.toml")
