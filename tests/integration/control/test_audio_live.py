"""The live audio path without a sound card: a file played in real time through the same analysis.

`FileAudioInput` delivers blocks at the file's rate on the session clock, exactly as the
sounddevice callback does; the `AudioReactor` analyses them on its own thread, steps the
modulators, and a take records the sound beside the picture (checked for sync by decoding).
OSC `/vj/audio/...` goes over real UDP.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

import av
import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from tests.audio_signals import RATE, click_track
from tests.helpers import wait_for
from tests.unit.output_helpers import make_frame
from vj.config import PresetConfig
from vj.control.audio.analysis import BandAnalyser
from vj.control.audio.files import write_wav
from vj.control.audio.inputs import FileAudioInput
from vj.control.audio.live import AudioReactor
from vj.control.audio.modulators import AudioMod, AudioModulators
from vj.control.commands import ShowActions
from vj.control.modulators import ModulatorBank
from vj.control.osc import OscControl
from vj.control.tempo import TempoClock
from vj.output.take import LiveTake
from vj.output.timeline import read_timeline
from vj.store import ParamStore


def _session() -> tuple[ParamStore, AudioModulators]:
    store = ParamStore()
    return store, AudioModulators(store, ModulatorBank(store, TempoClock()))


def test_the_file_input_feeds_the_analysis_block_by_block_in_real_time(tmp_path: Path) -> None:
    x, clicks = click_track(120.0, 2.6, first_s=0.2)
    write_wav(tmp_path / "clicks.wav", x, RATE)
    store, audio = _session()
    audio.assign("zoom", AudioMod("onset", 0.1, attack_ms=0, release_ms=50))
    source = FileAudioInput(str(tmp_path / "clicks.wav"), 512)
    reactor = AudioReactor(source, audio)
    onset_times: list[float] = []
    zooms: list[float] = []

    def watch(samples: np.ndarray, t: float) -> None:  # runs after each block is analysed
        if audio.last is not None and audio.last.onset:
            onset_times.append(t - (source.started_at or 0.0))
            zooms.append(audio.value("zoom"))

    reactor.add_listener(watch)
    started = time.monotonic()
    reactor.start()
    try:
        assert source.finished.wait(10.0)
        wait_for(lambda: reactor.blocks == source.delivered)
    finally:
        reactor.close()
    assert time.monotonic() - started >= 2.5  # played at the file's own rate, not as fast as it could
    assert reactor.blocks == -(-len(x) // 512) and reactor.dropped == 0 and reactor.errors == 0
    # each onset is the block holding the click: the click lies inside [t, t + block)
    assert len(onset_times) == len(clicks)
    for t, click in zip(onset_times, clicks, strict=True):
        assert t <= click < t + 512 / RATE + 1e-6
    assert zooms == pytest.approx([0.1] * len(clicks))  # the onset source, attack 0: the full depth at once
    # the same analysis offline, block by block, finds the same onsets
    analyser = BandAnalyser(audio.analysis, RATE)
    offline = [i * 512 / RATE for i in range(reactor.blocks) if analyser.push(x[i * 512:(i + 1) * 512]).onset]
    assert offline == pytest.approx(onset_times, abs=1e-9)
    assert "audio bass" in reactor.status() and f"onsets {len(clicks)}" in reactor.status()


def test_a_take_records_the_input_in_sync_with_the_picture(tmp_path: Path) -> None:
    x, clicks = click_track(100.0, 3.2, first_s=0.8)
    write_wav(tmp_path / "clicks.wav", x, RATE)
    _, audio = _session()
    source = FileAudioInput(str(tmp_path / "clicks.wav"), 256)
    reactor = AudioReactor(source, audio)
    take = LiveTake(tmp_path / "take.mkv", 50.0, PresetConfig, encoder_preset="ultrafast",
                    audio_format=(source.rate, source.channels))
    # Blocks reach the take 150 ms after capture (a sound card's input latency, an analysis backlog):
    # placed by their capture time, they still land where they were heard.
    late: deque[tuple[np.ndarray, float, float]] = deque()
    reactor.add_listener(lambda samples, t: late.append((samples, t, time.monotonic() + 0.15)))

    def deliver_late() -> None:  # in order, as a device delivers
        while not stop.is_set() or late:
            if late and late[0][2] <= time.monotonic():
                samples, t, _ = late.popleft()
                take.feed_audio(samples, t)
            else:
                time.sleep(0.002)

    take.start()
    stop = threading.Event()
    offered: dict[int, float] = {}

    def render() -> None:
        i = 0
        while not stop.is_set():
            offered[i] = time.monotonic()  # the take's clock, read as the frame goes out
            take.offer(make_frame(i, 64, 64))
            i += 1
            time.sleep(0.005)

    renderer = threading.Thread(target=render, daemon=True)
    renderer.start()
    delay = threading.Thread(target=deliver_late, daemon=True)
    delay.start()
    reactor.start()
    time.sleep(0.3)  # the take starts after the sound: the blocks before its first tick are cut
    take.start_recording()
    try:
        assert source.finished.wait(10.0)
        time.sleep(0.4)
    finally:
        stop.set()
        renderer.join(2.0)
        reactor.close()
        delay.join(2.0)
        take.close()
    assert not take.failures
    # Where tick 0 of the video was on the clock: a frame's offer time minus its tick (`ot`) in the timeline.
    frames = [f for f in read_timeline(tmp_path / "take.jsonl").frames if f.output_tick is not None]
    video_start = float(np.median([offered[f.index] - f.output_tick / 50.0 for f in frames]))  # type: ignore[operator]
    with av.open(str(tmp_path / "take.mkv")) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        stream = container.streams.audio[0]
        chunks, first_time = [], None
        for frame in container.decode(audio=0):
            first_time = float(frame.time) if first_time is None else first_time
            chunks.append(frame.to_ndarray().mean(axis=0))
    sound = np.concatenate(chunks)
    loud = np.flatnonzero(np.abs(sound) > 0.2)
    starts = [loud[0]] + [b for a, b in zip(loud, loud[1:], strict=False) if b - a > stream.rate * 0.1]
    heard = np.array([first_time + s / stream.rate for s in starts])  # in the file, from the video's tick 0
    assert source.started_at is not None
    played = np.array([source.started_at + c - video_start for c in clicks])  # when each click was captured
    assert played[0] < clicks[0] - 0.25  # the take started some 0.3 s into the sound ...
    assert len(heard) == len(clicks) and first_time < 0.05  # ... and the file's sound starts at its start
    # AAC's encoder delay aside (1024 samples at most), each click sits where it was captured
    assert heard == pytest.approx(played, abs=1024 / RATE + 0.005), (heard, played)


def test_osc_assigns_audio_modulators_over_udp() -> None:
    store, audio = _session()
    osc = OscControl(store, port=0, actions=ShowActions(audio=audio))
    osc.start()
    client = SimpleUDPClient("127.0.0.1", osc.port)
    try:
        client.send_message("/vj/audio/zoom", ["bass", 0.05])
        client.send_message("/vj/audio/angle/set", ["onset", 2.0, 0.0, 300.0, "exponential"])
        client.send_message("/vj/audio/zoom/depth", [0.08])
        client.send_message("/vj/audio/onset", ["zoom_punch"])
        client.send_message("/vj/audio/zoom", ["treble", 0.05])  # no such source
        client.send_message("/vj/audio/border", ["bass", 1.0])  # a text parameter
        client.send_message("/vj/audio/noise/depth", [0.1])  # nothing attached there
        wait_for(lambda: osc.counters.handled == 7)
        zoom = audio.get("zoom")
        assert zoom is not None and (zoom.source, zoom.depth) == ("bass", pytest.approx(0.08))
        angle = audio.get("angle")
        assert angle is not None and (angle.source, angle.depth, angle.release_ms) == ("onset", 2.0, 300.0)
        assert audio.onset.action == "zoom_punch"
        c = osc.counters
        assert c.rejected["wrong_type"] == 1 and c.rejected["unknown_address"] == 1
        assert c.rejected["unavailable"] == 1
        client.send_message("/vj/audio/zoom", ["off"])
        wait_for(lambda: osc.counters.handled == 8)
        assert audio.get("zoom") is None
    finally:
        osc.close()
