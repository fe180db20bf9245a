"""A live take with scripted OSC-like input replays to the same parameter snapshots, frame by frame."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av

from tests.helpers import CollectFrames
from vj.output.recorder import VideoRecorder
from vj.output.take import LiveTake
from vj.output.timeline import read_timeline
from vj.prompt_mix import PromptEntry, PromptMix
from vj.session import LiveSession
from vj.session.replay import replay

FRAMES = 24


def _recording_session(tmp_path: Path, backend, preset) -> tuple[LiveSession, CollectFrames]:  # noqa: ANN001
    """A tiny-model session recording a take (take.mkv + take.jsonl in `tmp_path`), every frame also kept."""
    session = LiveSession(preset, backend=backend)
    take = LiveTake(tmp_path / "take.mkv", 24.0, lambda: session.preset, encoder_preset="ultrafast")
    live = CollectFrames()
    session.add_output(live)
    session.add_output(take)
    take.start_recording()
    return session, live


def _play_until(session: LiveSession, frames: int, deadline: float) -> None:
    """Wait until the session has rendered `frames` frames (or `deadline`, on time.monotonic, passes)."""
    while session.engine.stats.frames < frames and time.monotonic() < deadline:
        time.sleep(0.002)


@contextmanager
def _playing(session: LiveSession, frames: int) -> Iterator[float]:
    """Start the session for `frames` frames; yields a deadline for waits; at the end lets it render them all,
    and stops it in any case."""
    deadline = time.monotonic() + 60
    session.start(max_frames=frames)
    try:
        yield deadline
        while session.engine.running and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        session.stop()


def test_replay_reproduces_the_live_snapshots_exactly(tmp_path: Path, tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    session, live = _recording_session(tmp_path, tiny_backend, tiny_preset)
    store = session.store

    def performer() -> None:  # what an OSC client would send, at its own pace, between/within frames
        script = [
            lambda: store.set("zoom", 1.08, source="osc"),
            lambda: store.set_many({"angle": -3.0, "strength": 0.7}, source="osc"),
            lambda: store.set_prompt(0, "a cathedral of glass", source="osc"),
            lambda: store.set_norm("noise", 0.2, source="osc"),
            lambda: store.nudge("translation_x", 4.0, source="midi"),
            lambda: store.set("border", "wrap", source="osc"),
            lambda: store.set_prompt_weight(1, 0.5, source="osc"),
            lambda: store.set("zoom", 9.0, source="osc"),  # out of range: rejected, not recorded
            lambda: store.release("zoom", source="osc"),
            lambda: store.set_prompts(PromptMix((PromptEntry("ice", 1.0),), "blurry"), source="osc"),
            lambda: store.set("seed", 1234, source="osc"),
        ]
        for action in script:
            while session.engine.stats.frames < 2:
                time.sleep(0.001)
            action()
            time.sleep(0.012)

    thread = threading.Thread(target=performer, name="test-performer")
    session.start(max_frames=FRAMES)
    thread.start()
    thread.join(10)
    deadline = time.monotonic() + 60
    while session.engine.running and time.monotonic() < deadline:
        time.sleep(0.01)
    session.stop()
    assert len(live.frames) == FRAMES

    timeline = read_timeline(tmp_path / "take.jsonl")
    assert timeline.complete and len(timeline.frames) == FRAMES
    recorded_events = [e for f in timeline.frames for e in f.events]
    assert len(recorded_events) >= 10 and {"set", "prompt", "prompt_weight", "release", "prompts"} <= {
        e.kind for e in recorded_events}
    assert len({f.dt_s for f in timeline.frames}) > 1  # real, uneven live frame times

    out = tmp_path / "take_hq.mp4"
    recorder = VideoRecorder(out, width=64, height=64, fps=24.0, live=False, preset="ultrafast")
    result = replay(timeline, outputs=[recorder], backend=tiny_backend, keep_snapshots=True)
    assert result.frames == FRAMES and result.mismatches == 0 and result.checked
    for live_frame, again in zip(live.frames, result.snapshots, strict=True):
        snap = live_frame.snapshot
        assert (again.frame_index, again.time_s, again.dt_s) == (snap.frame_index, snap.time_s, snap.dt_s)
        assert dict(again.values) == dict(snap.values), snap.frame_index
        assert again.prompts == snap.prompts
        assert [(e.kind, e.name, e.value) for e in again.events] == [(e.kind, e.name, e.value) for e in snap.events]
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == FRAMES


def test_replay_at_another_size_and_steps_is_not_checked(tmp_path: Path, tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    from vj.output.timeline import TimelineWriter, make_header
    from vj.session import build_store

    store = build_store(tiny_preset)
    path = tmp_path / "t.jsonl"
    writer = TimelineWriter(path, make_header(tiny_preset))
    for i in range(3):
        if i == 1:
            store.set("angle", 5.0, source="osc")
        writer.offer_snapshot(store.snapshot(i, (i + 1) / 24, 1 / 24))
    writer.close()
    sink = CollectFrames()
    result = replay(path, outputs=[sink], backend=tiny_backend, width=96, height=80, steps=2)
    assert result.frames == 3 and not result.checked and result.events == 1
    assert sink.frames[0].image.shape == (80, 96, 3)
    assert sink.frames[2].snapshot["steps"] == 2 and sink.frames[2].snapshot["angle"] != 0.0


def test_a_blackout_in_the_take_fades_the_replay_where_the_show_did(tmp_path: Path, tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    session, live = _recording_session(tmp_path, tiny_backend, tiny_preset)
    with _playing(session, 12) as deadline:
        _play_until(session, 4, deadline)
        session.store.set("blackout_fade_s", 0.0, source="osc")
        session.performer.blackout(True)
        _play_until(session, 8, deadline)
        session.performer.blackout(False)
    live_black = [float(f.image.max()) == 0 for f in live.frames]
    assert any(live_black) and not live_black[0] and not live_black[-1], live_black

    timeline = read_timeline(tmp_path / "take.jsonl")
    switches = [e.value for f in timeline.frames for e in f.events if e.kind == "blackout"]
    assert switches == [{"on": True, "fade_s": 0.0}, {"on": False, "fade_s": 0.0}]
    again = CollectFrames()
    result = replay(timeline, outputs=[again], backend=tiny_backend)
    assert result.frames == 12 and result.mismatches == 0
    assert [float(f.image.max()) == 0 for f in again.frames] == live_black


def test_a_take_started_blacked_out_replays_black_until_it_lifts(tmp_path: Path, tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    take = LiveTake(tmp_path / "take.mkv", 24.0, lambda: session.preset, encoder_preset="ultrafast",
                    live_state=session.store.live_overrides, blacked_out=lambda: session.performer.blackout_on)
    session.add_output(take)
    live = CollectFrames()
    session.add_output(live)
    session.store.set("blackout_fade_s", 0.0, source="osc")
    with _playing(session, 12) as deadline:
        _play_until(session, 3, deadline)
        session.performer.blackout(True)
        _play_until(session, 5, deadline)  # the switch rode on a frame before the take: only the header can tell
        take.start_recording()
        _play_until(session, 9, deadline)
        session.performer.blackout(False)
    timeline = read_timeline(tmp_path / "take.jsonl")
    assert timeline.header["state"]["blackout"] is True and timeline.frames[0].index > 0
    assert not any(e.kind == "blackout" for f in timeline.frames[:3] for e in f.events)
    recorded = {f.index for f in timeline.frames}
    live_black = [float(f.image.max()) == 0 for f in live.frames if f.index in recorded]
    assert live_black[0] and not live_black[-1], live_black
    again = CollectFrames()
    replay(timeline, outputs=[again], backend=tiny_backend)
    assert [float(f.image.max()) == 0 for f in again.frames] == live_black
