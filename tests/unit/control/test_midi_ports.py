"""MIDI ports through an in-memory mido backend: selection, hot-plug, learn to a file, clock -> BPM."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mido
import pytest

from tests.helpers import wait_for
from tests.unit import memory_midi_backend as mem
from vj.control.commands import ShowActions
from vj.control.midi.mapper import MidiMapper
from vj.control.midi.mapping_file import load_mapping, parse_mapping, save_mapping
from vj.control.midi.ports import MidiInput, input_names, learn_session, select_ports
from vj.control.tempo import MidiClockTracker, TempoClock
from vj.errors import DeviceNotConnected
from vj.store import ParamStore

MAP = """
[[cc]]
control = 0
param = "strength"
"""



@pytest.fixture
def backend() -> Iterator[mido.Backend]:
    mem.reset()
    yield mido.Backend("tests.unit.memory_midi_backend", load=True)
    mem.reset()


@pytest.fixture(params=[False, True], ids=["polling", "callback"])
def use_callback(request: pytest.FixtureRequest) -> bool:
    """Both ways of receiving: polling iter_pending(), and callback= serviced by the port (rtmidi's way)."""
    return bool(request.param)


def cc(control: int, value: int) -> mido.Message:
    return mido.Message("control_change", control=control, value=value)


def test_select_ports_substring_and_all() -> None:
    names = ["nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0", "MIDI Mix:MIDI Mix MIDI 1 24:0", "Midi Through:0"]
    assert select_ports(names, "nanokontrol") == names[:1]
    assert select_ports(names, "midi mix") == names[1:2]
    assert select_ports(names, "all") == names
    assert select_ports(names, "launchpad") == []


def test_messages_flow_from_the_port_to_the_store(backend: mido.Backend, use_callback: bool) -> None:
    mem.plug("nanoKONTROL2 1")
    mem.plug("Other synth")
    store = ParamStore()
    midi = MidiInput(MidiMapper(parse_mapping(MAP, "m.toml"), store), "nano", backend=backend,
                     use_callback=use_callback, watch_interval_s=0.05)
    midi.start()
    try:
        assert midi.open_ports == ["nanoKONTROL2 1"]
        mem.send("nanoKONTROL2 1", cc(0, 127))
        mem.send("Other synth", cc(0, 0))  # not selected: ignored
        wait_for(lambda: midi.counters.messages >= 1)
        time.sleep(0.02)
        assert store.target("strength") == pytest.approx(1.0)
        assert midi.counters.messages == 1
    finally:
        midi.close()


def test_unplug_and_replug_reopens_the_port_without_stopping(backend: mido.Backend, use_callback: bool) -> None:
    mem.plug("nanoKONTROL2 1")
    store = ParamStore()
    midi = MidiInput(MidiMapper(parse_mapping(MAP, "m.toml"), store), "nano", backend=backend,
                     use_callback=use_callback, watch_interval_s=0.05)
    midi.start()
    try:
        mem.send("nanoKONTROL2 1", cc(0, 10))
        wait_for(lambda: midi.counters.messages == 1)
        mem.unplug("nanoKONTROL2 1")
        wait_for(lambda: midi.counters.lost == 1)
        assert midi.open_ports == []
        mem.send("nanoKONTROL2 1", cc(0, 20))  # device is gone: nothing arrives
        mem.plug("nanoKONTROL2 1")
        wait_for(lambda: midi.counters.reopened == 1)
        mem.send("nanoKONTROL2 1", cc(0, 127))
        wait_for(lambda: midi.counters.messages == 2)
        assert store.target("strength") == pytest.approx(1.0)
        assert "lost 1 reopened 1" in midi.status()
    finally:
        midi.close()


def test_a_controller_plugged_in_mid_show_is_picked_up(backend: mido.Backend, use_callback: bool) -> None:
    store = ParamStore()
    midi = MidiInput(MidiMapper(parse_mapping(MAP, "m.toml"), store), "all", backend=backend,
                     use_callback=use_callback, watch_interval_s=0.05)
    midi.start()
    try:
        assert midi.open_ports == []
        mem.plug("late arrival")
        wait_for(lambda: midi.open_ports == ["late arrival"])
        mem.send("late arrival", cc(0, 0))
        wait_for(lambda: midi.counters.messages == 1)
    finally:
        midi.close()


class _BrokenBackend:
    def get_input_names(self) -> list[str]:
        raise SystemError("MidiInAlsa::initialize: error creating ALSA sequencer client object.")


def test_no_midi_system_is_reported_not_fatal() -> None:
    with pytest.raises(DeviceNotConnected, match="ALSA"):
        input_names(_BrokenBackend())  # type: ignore[arg-type]
    midi = MidiInput(MidiMapper(parse_mapping(MAP, "m.toml"), ParamStore()), "all",
                     backend=_BrokenBackend(), watch_interval_s=0.05)  # type: ignore[arg-type]
    midi.start()
    try:
        wait_for(lambda: midi.counters.errors >= 2)  # keeps trying, keeps running
        assert midi._thread is not None and midi._thread.is_alive()
    finally:
        midi.close()


def test_running_learn_writes_the_mapping_file(backend: mido.Backend, tmp_path: Path, use_callback: bool) -> None:
    mem.plug("pad")
    path = tmp_path / "learned.toml"
    store = ParamStore()
    mapper = MidiMapper(parse_mapping("", str(path)), store, on_learned=lambda m: save_mapping(m, path))
    midi = MidiInput(mapper, "pad", backend=backend, use_callback=use_callback, watch_interval_s=0.05)
    midi.start()
    try:
        assert mapper.learn("angle")  # what /vj/learn angle does
        mem.send("pad", cc(14, 64))
        wait_for(path.is_file)
        learned = load_mapping(path)
        assert [(c.control, c.param) for c in learned.cc] == [(14, "angle")]
        mem.send("pad", cc(14, 127))
        wait_for(lambda: store.live_overrides().get("angle") == pytest.approx(45.0))
    finally:
        midi.close()


def test_interactive_learn_session_writes_each_choice(backend: mido.Backend, tmp_path: Path) -> None:
    mem.plug("MIDI Mix")
    path = tmp_path / "mix.toml"
    answers = iter(["zoom", "", "next_preset", "quit"])
    seen: list[str] = []

    def choose(msg: mido.Message) -> str | None:
        seen.append(msg.type)
        return next(answers)

    def performer() -> None:
        for msg in (cc(16, 64), cc(17, 1), mido.Message("note_on", note=26, velocity=90), cc(18, 3)):
            time.sleep(0.03)
            mem.send("MIDI Mix", msg)

    t = threading.Thread(target=performer)
    t.start()
    count = learn_session(str(path), "mix", choose, backend=backend, timeout_s=2.0)
    t.join()
    assert count == 2
    mapping = load_mapping(path)
    assert [(c.control, c.param) for c in mapping.cc] == [(16, "zoom")]
    assert mapping.buttons[0].number == 26 and mapping.buttons[0].action is not None
    assert seen == ["control_change", "control_change", "note_on", "control_change"]


def test_learn_session_without_matching_port_says_so(backend: mido.Backend, tmp_path: Path) -> None:
    with pytest.raises(DeviceNotConnected, match="no MIDI input matches"):
        learn_session(str(tmp_path / "x.toml"), "nano", lambda m: "zoom", backend=backend, timeout_s=0.1)


# ---------------------------------------------------------------------- clock
def test_midi_clock_gives_120_bpm_within_half_a_bpm_with_jitter() -> None:
    rng = random.Random(7)
    t_now = [0.0]
    tempo = TempoClock(90.0, now=lambda: t_now[0])
    mapper = MidiMapper(parse_mapping("", "clock.toml"), ParamStore(), ShowActions(tempo=tempo))
    period = 60.0 / 120.0 / 24
    mapper.handle(mido.Message("start"))
    for i in range(24 * 16):  # 16 beats of clock with ±1 ms jitter (USB, scheduler)
        t_now[0] = 1.0 + i * period + rng.uniform(-0.001, 0.001)
        mapper.handle(mido.Message("clock"))
        if i >= 24 * 4:
            assert tempo.bpm == pytest.approx(120.0, abs=0.5)
    assert tempo.source == "midi clock"
    state = tempo.state(t_now[0])
    assert state.playing and round(state.beat) in (15, 16)
    mapper.handle(mido.Message("stop"))
    assert not tempo.playing
    mapper.handle(mido.Message("continue"))
    assert tempo.playing
    assert mapper.counters.clock == 24 * 16 + 3


def test_clock_tracker_follows_a_tempo_change() -> None:
    tracker = MidiClockTracker()
    t = 0.0
    bpm = None
    for bpm_target in (100.0, 140.0):
        for _ in range(24 * 8):
            t += 60.0 / bpm_target / 24
            bpm, _ = tracker.pulse(t)
        assert bpm == pytest.approx(bpm_target, abs=0.5)


def test_receive_mode_follows_the_backend() -> None:
    mapper = MidiMapper(parse_mapping(MAP, "m.toml"), ParamStore())
    assert MidiInput(mapper, backend=mido.Backend("mido.backends.rtmidi")).use_callback
    assert not MidiInput(mapper, backend=mido.Backend("tests.unit.memory_midi_backend")).use_callback
