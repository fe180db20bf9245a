"""The coherence parameters on every control surface: real OSC datagrams, a MIDI knob, an LFO, and a live
take whose changes of them replay to the same snapshots and the same pictures (the feedback loop with the
bank loaded: a replay has no input picture, so the similarity skip holds nothing in either)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import mido
import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from tests.conftest import TINY_PRESET
from tests.helpers import CollectFrames
from vj.config import ModelConfig, parse_preset
from vj.control.commands import ShowActions
from vj.control.midi.mapper import MidiMapper
from vj.control.midi.mapping_file import parse_mapping
from vj.control.modulators import Lfo, ModulatorBank
from vj.control.osc import OscControl
from vj.control.tempo import TempoClock
from vj.engine.backends import load_backend
from vj.output.take import LiveTake
from vj.output.timeline import read_timeline
from vj.session import LiveSession
from vj.session.replay import replay
from vj.store import ParamStore

NAMES = ("similarity_skip", "similarity_skip_max", "bank_strength", "bank_frames", "latent_blend")


def test_osc_datagrams_set_each_and_refuse_out_of_range() -> None:
    store = ParamStore()
    osc = OscControl(store, port=0, actions=ShowActions())
    osc.start()
    try:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        for name, value in zip(NAMES, (0.97, 5, 0.6, 3, 0.25), strict=True):
            client.send_message(f"/vj/{name}", value)
        client.send_message("/vj/bank_frames", 9)  # more than the ring holds
        client.send_message("/vj/similarity_skip", 1.0)  # the rule divides by 1 - threshold
        c = osc.counters
        deadline = time.monotonic() + 5.0
        while (c.datagrams < 7 or c.handled < c.datagrams) and time.monotonic() < deadline:
            time.sleep(0.002)
        assert store.live_overrides() == pytest.approx({"similarity_skip": 0.97, "similarity_skip_max": 5,
                                                        "bank_strength": 0.6, "bank_frames": 3, "latent_blend": 0.25})
        assert c.rejected["out_of_range"] == 2
    finally:
        osc.close()


def test_a_midi_knob_and_an_lfo_drive_the_bank_strength() -> None:
    mapping = parse_mapping('[[cc]]\ncontrol = 3\nparam = "bank_strength"\n', "t.toml")
    midi = MidiMapper(mapping, ParamStore())
    midi.handle(mido.Message("control_change", control=3, value=127))
    assert midi.store.live_overrides() == {"bank_strength": pytest.approx(1.0)}
    store = ParamStore(base={"latent_blend": 0.5})
    bank = ModulatorBank(store, TempoClock(120.0), engine_time=True)
    assert bank.assign("latent_blend", Lfo(rate=4.0, depth=0.25))
    assert store.snapshot(0, 0.5, 0.04).num("latent_blend") == pytest.approx(0.75)


def test_a_take_with_live_coherence_changes_replays_to_the_same_pictures(tmp_path: Path) -> None:
    text = TINY_PRESET + "bank_strength = 0.0\n"
    preset = parse_preset(text, "take.toml")
    backend = load_backend(ModelConfig(source="tiny", device="cpu"))
    session = LiveSession(preset, backend=backend)
    take = LiveTake(tmp_path / "take.mkv", 24.0, lambda: session.preset, encoder_preset="ultrafast")
    live = CollectFrames()
    session.add_output(live)
    session.add_output(take)
    take.start_recording()
    store = session.store

    def performer() -> None:
        script = [{"bank_strength": 0.8, "bank_frames": 3}, {"latent_blend": 0.4},
                  {"similarity_skip": 0.9, "similarity_skip_max": 2}, {"bank_strength": 0.3}]
        for values in script:
            target = session.engine.stats.frames + 3
            while session.engine.stats.frames < target and session.engine.running:
                time.sleep(0.001)
            store.set_many(values, source="osc")

    thread = threading.Thread(target=performer, name="test-performer")
    session.start(max_frames=20)
    thread.start()
    thread.join(60)
    deadline = time.monotonic() + 60
    while session.engine.running and time.monotonic() < deadline:
        time.sleep(0.01)
    session.stop()
    assert len(live.frames) == 20 and session.engine.stats.skipped == 0

    timeline = read_timeline(tmp_path / "take.jsonl")
    recorded = {e.name for f in timeline.frames for e in f.events}
    assert set(NAMES) <= recorded
    again = CollectFrames()
    result = replay(timeline, outputs=[again], backend=load_backend(ModelConfig(source="tiny", device="cpu")))
    assert result.frames == 20 and result.mismatches == 0 and result.checked
    for a, b in zip(live.frames, again.frames, strict=True):
        assert np.array_equal(a.image, b.image), a.index
