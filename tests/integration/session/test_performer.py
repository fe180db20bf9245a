"""Master, blackout, freeze and panic on a real tiny-model session, from OSC (real UDP), OSCQuery
(real HTTP), MIDI (the in-memory mido backend with the shipped nanoKONTROL2 profile) and a recording."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import av
import mido
import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from tests.helpers import wait_for as shared_wait_for
from tests.unit import memory_midi_backend as mem
from vj.cli.main import build_parser
from vj.cli.run import attach_run_components
from vj.control.commands import ShowActions
from vj.control.midi.mapper import MidiMapper
from vj.control.midi.mapping_file import load_mapping
from vj.control.midi.ports import MidiInput
from vj.control.modulators import parse_lfo
from vj.frames import Frame
from vj.output.pacing import PacedOutput
from vj.output.take import LiveTake
from vj.session import LiveSession

# Frames render on a shared CPU here: a generous bound on how long a failure takes.
wait_for = partial(shared_wait_for, timeout_s=90.0)


class Capture:
    """An output that keeps every frame it is offered; `hook(frame)` runs on the render thread first."""

    def __init__(self, hook: Callable[[Frame], None] | None = None) -> None:
        self.frames: list[Frame] = []
        self.hook = hook

    def start(self) -> None:
        pass

    def offer(self, frame: Frame) -> None:
        if self.hook is not None:
            self.hook(frame)
        self.frames.append(frame)

    def close(self) -> None:
        pass

    def status(self) -> str:
        return ""


class HeldOutput(Capture):
    """A paced output (what the virtual camera, NDI and preview run on) as a session output."""

    def __init__(self, paced: PacedOutput) -> None:
        super().__init__()
        self.paced = paced

    def start(self) -> None:
        self.paced.start()

    def offer(self, frame: Frame) -> None:
        self.paced.offer(frame)

    def close(self) -> None:
        self.paced.stop()


def render_with_blackout(tiny_backend, tiny_preset, on_at: int | None, off_at: int | None) -> list[Frame]:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend, offline=True)  # fixed clock: runs are comparable
    session.store.set_base({"blackout_fade_s": 0.0})

    def toggle(frame: Frame) -> None:
        if frame.index == on_at:
            session.performer.blackout(True)
        if frame.index == off_at:
            session.performer.blackout(False)

    capture = Capture(toggle)
    session.add_output(capture)
    session.run(frames=10)
    return capture.frames


def test_blackout_shows_black_and_the_feedback_carries_on_underneath(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    reference = render_with_blackout(tiny_backend, tiny_preset, None, None)
    dark = render_with_blackout(tiny_backend, tiny_preset, 3, 6)
    assert [f.index for f in dark] == list(range(10))
    for ref, out in zip(reference[:4], dark[:4], strict=True):
        assert np.array_equal(ref.image, out.image)
    for out in dark[4:7]:
        assert not out.image.any(), f"frame {out.index} is not black during the blackout"
    for ref, out in zip(reference[7:], dark[7:], strict=True):
        assert out.image.mean() > 5, "the frame after the blackout is black: black went into the feedback"
        assert np.array_equal(ref.image, out.image), "the feedback changed under the blackout"


def test_a_recording_during_blackout_is_black_and_picks_up_after(tiny_backend, tiny_preset, tmp_path: Path) -> None:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    session.store.set_base({"blackout_fade_s": 0.0})
    take = LiveTake(tmp_path / "take.mkv", 24.0, lambda: session.preset)
    session.attach_take(take)
    take.start_recording()
    session.start()
    try:
        wait_for(lambda: session.engine.stats.frames >= 5)
        time.sleep(0.3)
        for on in (True, False):  # several rendered frames each way, however slow the shared machine is
            session.performer.blackout(on)
            done = session.engine.stats.frames
            wait_for(lambda done=done: session.engine.stats.frames >= done + 4)
            time.sleep(0.3)
    finally:
        session.stop()
    with av.open(str(tmp_path / "take.mkv")) as container:
        means = [float(f.to_ndarray(format="rgb24").mean()) for f in container.decode(video=0)]
    black = [i for i, m in enumerate(means) if m < 2.0]
    assert len(black) >= 5, f"no black stretch in the recording: {means}"
    assert black[0] > 0 and means[black[0] - 1] > 5  # picture before
    assert max(means[black[-1] + 1:], default=0.0) > 5  # and after


def test_freeze_holds_the_picture_while_control_lands_and_resumes_seamlessly(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    capture = Capture()
    session.add_output(capture)
    held: list[bool] = []
    paced = HeldOutput(PacedOutput("test-hold", 50.0, lambda frame, fresh: held.append(fresh)))
    session.add_output(paced)
    session.start()
    try:
        wait_for(lambda: len(capture.frames) >= 3)
        assert session.performer.freeze(True)
        wait_for(lambda: session.freeze_gate.holding)  # the frame in flight when the freeze came is out
        frozen_at = len(capture.frames)
        last = capture.frames[-1]
        repeats_before = held.count(False)
        assert session.store.set("seed", 777, source="osc") and session.store.set("strength", 0.3, source="osc")
        time.sleep(0.6)
        assert len(capture.frames) == frozen_at, "the engine rendered while frozen"
        assert session.engine.frame_index == last.index + 2  # the next frame waits at the gate, unrendered
        assert held.count(False) - repeats_before >= 10, "the paced output did not hold the last frame"
        assert session.store.target("seed") == 777  # the store kept receiving
        assert "FROZEN" in session.status_line()
        assert not session.performer.freeze(False)
        wait_for(lambda: len(capture.frames) > frozen_at)
        first = capture.frames[frozen_at]
        assert first.index == last.index + 1  # the feedback goes on from where it stopped
        assert first.snapshot["seed"] == 777  # the change made while frozen applies on resume
        assert any(e.kind == "set" and e.name == "seed" for e in first.snapshot.events)
        assert first.snapshot.dt_s < 0.25 and first.snapshot.time_s - last.snapshot.time_s < 0.3, \
            "the frozen time leaked into the frame clock (motion would jump)"
    finally:
        session.stop()


def test_stopping_a_frozen_show_renders_nothing_more(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    # The gate opens so the stop never waits; the frame that was waiting at it must not then be rendered,
    # or the projector and the take would end on a picture nobody froze.
    session = LiveSession(tiny_preset, backend=tiny_backend)
    capture = Capture()
    session.add_output(capture)
    session.start()
    try:
        wait_for(lambda: len(capture.frames) >= 3)
        session.performer.freeze(True)
        wait_for(lambda: session.freeze_gate.holding)
        frozen_at = len(capture.frames)
    finally:
        session.stop()
    assert len(capture.frames) == frozen_at, "a frame was rendered after the stop of a frozen show"
    assert session.engine.fatal_error is None and session.engine.stats.errors == 0


def test_panic_recalls_the_preset_releases_everything_and_ends_a_freeze(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    session.start()
    try:
        wait_for(lambda: session.engine.stats.frames >= 2)
        session.store.set_many({"zoom": 1.3, "master": 0.2}, source="midi")
        session.modulators.assign("angle", parse_lfo("sine", 1.0, 2.0))
        session.performer.freeze(True)
        session.performer.blackout(True)
        session.performer.panic()
        assert session.store.live_overrides() == {}
        assert dict(session.modulators.assigned()) == {}  # the tiny preset has no LFOs of its own
        assert session.store.target("zoom") == pytest.approx(1.04)  # back to the preset
        assert not session.performer.frozen
        assert session.performer.blackout_on  # panic never flashes the picture back on
        frames = session.engine.stats.frames
        wait_for(lambda: session.engine.stats.frames > frames)
    finally:
        session.stop()


def run_args(*extra: str) -> object:
    return build_parser().parse_args(["run", "tiny.toml", "--osc-port", "0", "--oscquery-port", "0",
                                      "--no-zeroconf", *extra])


def oscquery_value(port: int, path: str) -> object:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", f"{path}?VALUE")
    body = json.loads(conn.getresponse().read())
    conn.close()
    return body["VALUE"][0]


def test_osc_and_oscquery_reach_the_performer_switches(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    capture = Capture()
    session.add_output(capture)
    attach_run_components(session, run_args())
    session.start()
    try:
        osc = next(c for c in session.controls if type(c).__name__ == "OscControl")
        query = next(c for c in session.controls if type(c).__name__ == "_OscQueryAfterOsc").query
        client = SimpleUDPClient("127.0.0.1", osc.port)
        assert oscquery_value(query.port, "/vj/blackout") == 0
        client.send_message("/vj/blackout_fade_s", 0.0)
        client.send_message("/vj/blackout", 1)
        wait_for(lambda: session.performer.blackout_on)
        assert oscquery_value(query.port, "/vj/blackout") == 1
        n = len(capture.frames)
        wait_for(lambda: len(capture.frames) > n + 1)
        assert not capture.frames[-1].image.any()
        client.send_message("/vj/blackout", [])  # no argument: toggle
        wait_for(lambda: not session.performer.blackout_on)
        client.send_message("/vj/master", 0.0)  # the master is a parameter, glided by the store
        wait_for(lambda: capture.frames[-1].image.max() <= 3)
        client.send_message("/vj/freeze", 1)
        wait_for(lambda: session.performer.frozen)
        assert oscquery_value(query.port, "/vj/freeze") == 1
        client.send_message("/vj/panic", [])
        wait_for(lambda: not session.performer.frozen and session.performer.panics == 1)
        assert session.store.live_overrides() == {}
        client.send_message("/vj/panic", 0)  # a push button's release: ignored
        client.send_message("/vj/freeze", "yes")  # refused, counted
        wait_for(lambda: osc.counters.rejected.get("wrong_type", 0) == 1)
        assert session.performer.panics == 1 and not session.performer.frozen
    finally:
        session.stop()


def test_the_shipped_nanokontrol2_profile_drives_master_blackout_freeze_and_panic(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    mem.reset()
    backend = mido.Backend("tests.unit.memory_midi_backend", load=True)
    mem.plug("nanoKONTROL2 1")
    session = LiveSession(tiny_preset, backend=tiny_backend)
    p = session.performer
    mapper = MidiMapper(load_mapping("nanokontrol2"), session.store,
                        ShowActions(blackout=p.blackout, freeze=p.freeze, panic=p.panic))
    midi = MidiInput(mapper, "nano", backend=backend, watch_interval_s=0.05)
    midi.start()
    session.start()

    def press(control: int) -> None:
        mem.send("nanoKONTROL2 1", mido.Message("control_change", control=control, value=127))
        mem.send("nanoKONTROL2 1", mido.Message("control_change", control=control, value=0))

    try:
        mem.send("nanoKONTROL2 1", mido.Message("control_change", control=7, value=0))  # master fader down
        wait_for(lambda: session.store.target("master") == 0.0)
        press(36)
        wait_for(lambda: p.blackout_on)
        press(36)
        wait_for(lambda: not p.blackout_on)
        press(37)
        wait_for(lambda: p.frozen)
        press(39)
        wait_for(lambda: p.panics == 1)
        assert not p.frozen and session.store.live_overrides() == {}
    finally:
        session.stop()
        midi.close()
        mem.reset()
