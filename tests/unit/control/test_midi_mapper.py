"""MIDI mapper: CC maths applied, invert, encoders, 14-bit, pickup, buttons, program change, learn."""

from __future__ import annotations

import math

import mido
import pytest

from vj.control.commands import ShowActions
from vj.control.midi.mapper import MidiMapper, learned_mapping
from vj.control.midi.mapping_file import parse_mapping
from vj.control.midi.targets import Action, LearnTarget, parse_learn_target
from vj.control.modulators import Lfo, ModulatorBank
from vj.control.tempo import TempoClock
from vj.store import ParamStore


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=control, value=value, channel=channel)


def note(n: int, velocity: int = 100, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=n, velocity=velocity, channel=channel)


def learn_target(text: str) -> LearnTarget:
    target = parse_learn_target(text)
    assert target is not None, text
    return target


def mapper(text: str, store: ParamStore | None = None, actions: ShowActions | None = None) -> MidiMapper:
    return MidiMapper(parse_mapping(text, "test.toml"), store or ParamStore(), actions)


def test_absolute_cc_min_max_invert_and_curve() -> None:
    m = mapper("""
[[cc]]
control = 16
param = "zoom"
min = 0.9
max = 1.1
[[cc]]
control = 17
param = "angle"
min = -10.0
max = 10.0
invert = true
[[cc]]
control = 18
param = "noise"
max = 0.5
curve = "exponential"
curve_amount = 2.0
""")
    store = m.store
    for msg in (cc(16, 127), cc(17, 0), cc(18, 64)):
        m.handle(msg)
    live = store.live_overrides()
    assert live["zoom"] == pytest.approx(1.1)
    assert live["angle"] == pytest.approx(10.0)  # inverted: knob at 0 -> max
    assert live["noise"] == pytest.approx(0.5 * math.expm1(2.0 * 64 / 127) / math.expm1(2.0))
    m.handle(cc(16, 0))
    assert store.live_overrides()["zoom"] == pytest.approx(0.9)
    assert m.counters.applied == 4


def test_channel_filter_and_unmapped() -> None:
    m = mapper("""
[[cc]]
control = 7
channel = 2
param = "strength"
""")
    m.handle(cc(7, 127, channel=0))
    assert "strength" not in m.store.live_overrides()
    m.handle(cc(7, 127, channel=1))  # channel 2 in TOML = 1 on the wire
    assert m.store.live_overrides()["strength"] == pytest.approx(1.0)
    assert m.counters.unmapped == 1


@pytest.mark.parametrize("mode,up,down", [("relative_twos", 1, 127), ("relative_offset64", 65, 63)])
def test_relative_encoders_accumulate_and_clamp(mode: str, up: int, down: int) -> None:
    m = mapper(f"""
[[cc]]
control = 20
param = "angle"
min = -2.0
max = 2.0
mode = "{mode}"
step = 0.5
""")
    for _ in range(3):
        m.handle(cc(20, up))
    assert m.store.target("angle") == pytest.approx(1.5)
    m.handle(cc(20, down))
    assert m.store.target("angle") == pytest.approx(1.0)
    for _ in range(10):
        m.handle(cc(20, up))
    assert m.store.target("angle") == pytest.approx(2.0)  # clamped at max


def test_fourteen_bit_pair_msb_then_lsb() -> None:
    m = mapper("""
[[cc]]
control = 1
param = "strength"
mode = "14bit"
""")
    m.handle(cc(1, 64))  # MSB alone: LSB = 0
    assert m.store.target("strength") == pytest.approx(8192 / 16383)
    m.handle(cc(33, 100))  # LSB on CC 1 + 32
    assert m.store.target("strength") == pytest.approx((64 * 128 + 100) / 16383)
    assert m.counters.applied == 2


def test_pickup_waits_until_the_control_crosses_the_recalled_value() -> None:
    store = ParamStore()
    m = mapper("""
[[cc]]
control = 0
param = "strength"
""", store)
    m.handle(cc(0, 127))
    assert store.target("strength") == pytest.approx(1.0)
    store.load_preset_state({"strength": 0.5}, store.prompts(), {})  # preset recall releases live values
    m.arm_pickup()
    m.handle(cc(0, 20))  # far below 0.5: ignored
    m.handle(cc(0, 40))
    assert store.target("strength") == pytest.approx(0.5)
    assert m.counters.pickup_waiting == 2
    m.handle(cc(0, 70))  # crossed 0.5 (63.5): picked up
    assert store.target("strength") == pytest.approx(70 / 127)
    m.handle(cc(0, 10))  # engaged: follows freely now
    assert store.target("strength") == pytest.approx(10 / 127)


def test_pickup_engages_when_the_control_lands_on_the_value() -> None:
    store = ParamStore(base={"zoom": 1.0})
    m = mapper("""
[[cc]]
control = 16
param = "zoom"
min = 0.9
max = 1.1
""", store)
    m.arm_pickup()
    m.handle(cc(16, 64))  # 64/127 = 1.0008: within one step of 1.0
    assert store.target("zoom") == pytest.approx(0.9 + 0.2 * 64 / 127)


def test_buttons_momentary_toggle_and_note_off_by_velocity_zero() -> None:
    store = ParamStore()
    m = mapper("""
[[button]]
note = 10
mode = "momentary"
param = "noise"
on = 0.8
[[button]]
cc = 40
mode = "toggle"
param = "border"
on = "wrap"
off = "reflect"
""", store)
    m.handle(note(10))
    assert store.target("noise") == pytest.approx(0.8)
    m.handle(note(10, velocity=0))  # note-on velocity 0 = note-off -> release
    assert "noise" not in store.live_overrides()
    m.handle(cc(40, 127))
    m.handle(cc(40, 0))  # release of a toggle does nothing
    assert store.target("border") == "wrap"
    m.handle(cc(40, 127))
    assert store.target("border") == "reflect"


def test_trigger_buttons_and_program_change() -> None:
    calls: list[object] = []
    tempo = TempoClock(100.0)
    actions = ShowActions(preset_step=lambda d: calls.append(("step", d)),
                          preset_number=lambda n: calls.append(("program", n)),
                          record=lambda on: calls.append(("record", on)), tempo=tempo)
    m = mapper("""
[[button]]
note = 1
action = "next_preset"
[[button]]
note = 2
action = "previous_preset"
[[button]]
note = 3
action = "record"
[[button]]
note = 4
action = "reset_motion"
[[button]]
note = 5
action = "release_all"
""", actions=actions)
    m.store.set_many({"zoom": 1.2, "angle": 3.0, "strength": 0.2})
    for n in (1, 2, 3, 3, 4):
        m.handle(note(n))
    m.handle(mido.Message("program_change", program=5))
    assert calls == [("step", 1), ("step", -1), ("record", True), ("record", False), ("program", 5)]
    live = m.store.live_overrides()
    assert live["zoom"] == 1.0 and live["angle"] == 0.0 and live["strength"] == 0.2
    m.handle(note(5))
    assert m.store.live_overrides() == {}


def test_a_failing_action_is_counted_not_raised() -> None:
    def broken(step: int) -> None:
        raise RuntimeError("preset file vanished")

    m = mapper("[[button]]\nnote = 1\naction = \"next_preset\"\n", actions=ShowActions(preset_step=broken))
    m.handle(note(1))
    m.handle(note(2))
    assert m.counters.rejected["action_failed"] == 1 and m.counters.messages == 2


def test_program_change_by_name_list_and_out_of_range() -> None:
    names: list[str] = []
    m = mapper("""
[program]
presets = ["calm", "tunnel"]
""", actions=ShowActions(preset_file=names.append))
    m.handle(mido.Message("program_change", program=1))
    m.handle(mido.Message("program_change", program=7))
    assert names == ["tunnel"]
    assert m.counters.rejected["out_of_range"] == 1


def test_prompt_weight_and_lfo_depth_targets() -> None:
    store = ParamStore()
    tempo = TempoClock(120.0)
    bank = ModulatorBank(store, tempo)
    bank.assign("zoom", Lfo(depth=0.0))
    m = mapper("""
[[cc]]
control = 1
param = "prompt/2/weight"
[[cc]]
control = 2
param = "lfo/zoom/depth"
max = 0.05
""", store, ShowActions(modulators=bank))
    m.handle(cc(1, 127))
    m.handle(cc(2, 127))
    assert store.prompts().entries[2].weight == pytest.approx(1.0)
    assert bank.get("zoom").depth == pytest.approx(0.05)  # type: ignore[union-attr]


def test_an_lfo_knob_attaches_an_lfo_on_first_touch() -> None:
    store = ParamStore()
    bank = ModulatorBank(store, TempoClock(120.0), engine_time=True)
    m = mapper("""
[[cc]]
control = 2
param = "lfo/angle/depth"
max = 4.0
""", store, ShowActions(modulators=bank))
    assert bank.get("angle") is None
    m.handle(cc(2, 127))
    lfo = bank.get("angle")
    assert lfo is not None and lfo.depth == pytest.approx(4.0) and lfo.rate == 4.0
    assert store.snapshot(0, 0.5, 0.04).num("angle") == pytest.approx(4.0)  # beat 1 of a 4-beat sine


def test_learn_maps_the_next_cc_and_reports_the_new_mapping() -> None:
    learned = []
    m = MidiMapper(parse_mapping("", "learn.toml"), ParamStore(), on_learned=learned.append)
    assert m.learn("angle")
    m.handle(mido.Message("clock"))  # clock never gets learned
    m.handle(cc(21, 5, channel=3))  # this one is learned, not applied
    assert m.learning is None and len(learned) == 1
    assert learned[0].cc[0].control == 21 and learned[0].cc[0].channel == 3 and learned[0].cc[0].param == "angle"
    m.handle(cc(21, 127, channel=3))
    assert m.store.target("angle") == pytest.approx(45.0)


def test_learn_button_does_not_learn_itself() -> None:
    m = mapper("""
[[button]]
cc = 70
action = "learn"
param = "noise"
""")
    m.handle(cc(70, 127))  # press arms learn for noise
    assert m.learning == "noise"
    m.handle(cc(70, 0))  # release of the same button: not learned
    assert m.learning == "noise"
    m.handle(cc(9, 100))
    assert m.learning is None and m.mapping.cc[0].control == 9


def test_learn_refuses_unknown_targets_and_relearn_replaces() -> None:
    m = MidiMapper(parse_mapping("", "x.toml"), ParamStore())
    assert not m.learn("warp_speed")
    mapping = learned_mapping(m.mapping, cc(3, 1), learn_target("zoom"))
    assert mapping is not None
    mapping = learned_mapping(mapping, cc(3, 1), learn_target("angle"))
    assert mapping is not None and [c.param for c in mapping.cc] == ["angle"]
    mapping = learned_mapping(mapping, note(60), learn_target("next_preset"))
    assert mapping is not None and mapping.buttons[0].action is Action.NEXT_PRESET


def test_pickup_respects_the_curve() -> None:
    store = ParamStore(base={"noise": 0.125})
    m = mapper("""
[[cc]]
control = 1
param = "noise"
max = 0.5
curve = "exponential"
curve_amount = 3.0
""", store)
    m.arm_pickup()
    # 0.125 of 0..0.5 is y = 0.25 on the curve; the control must reach x = log1p((e^3 - 1) * 0.25) / 3 = 0.57
    m.handle(cc(1, 64))  # x = 0.504: below the pickup point, still waiting
    assert store.target("noise") == pytest.approx(0.125) and m.counters.pickup_waiting == 1
    m.handle(cc(1, 80))  # x = 0.63: crossed
    assert store.target("noise") == pytest.approx(0.5 * math.expm1(3.0 * 80 / 127) / math.expm1(3.0))
