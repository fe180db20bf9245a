"""Live takes switched over real UDP (`/vj/record`) in a live session on the tiny model: a take stopped at once
leaves no timeline naming a video that was never written, and finished takes give their threads back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from tests.helpers import wait_for
from tests.unit.output_helpers import make_frame
from vj.cli.main import build_parser
from vj.cli.run import attach_run_components
from vj.config import PresetConfig
from vj.control.osc import OscControl
from vj.output.take import LiveTake
from vj.output.timeline import read_timeline
from vj.session import LiveSession


class Show:
    def __init__(self, session: LiveSession) -> None:
        self.session = session
        osc = next(c for c in session.controls if isinstance(c, OscControl))
        self.client = SimpleUDPClient("127.0.0.1", osc.port)
        assert session.take is not None
        self.take: LiveTake = session.take

    def record(self, on: bool) -> None:
        self.client.send_message("/vj/record", int(on))
        wait_for(lambda: self.take.is_recording is on, timeout_s=30.0)


@pytest.fixture
def show(tiny_backend, tiny_preset: PresetConfig, tmp_path: Path) -> Iterator[Show]:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    args = build_parser().parse_args(["run", "tiny.toml", "--osc-port", "0", "--no-oscquery", "--no-zeroconf",
                                      "--record", str(tmp_path / "take.mkv"), "--record-preset", "ultrafast"])
    attach_run_components(session, args)
    session.start()
    try:
        yield Show(session)
    finally:
        session.stop()


def _decoded(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_a_take_stopped_at_once_leaves_no_timeline_naming_a_missing_video(show: Show, tmp_path: Path) -> None:
    wait_for(lambda: show.take.recorder is not None, timeout_s=60.0)  # --record: the first take is on
    show.record(False)
    for _ in range(6):  # record toggled quickly: stopped as soon as the take's files are open
        show.record(True)
        wait_for(lambda: show.take.recorder is not None, timeout_s=60.0)
        show.record(False)
    show.record(True)  # and one take that runs a while
    frames = show.session.engine.stats.frames
    wait_for(lambda: show.session.engine.stats.frames >= frames + 5, timeout_s=60.0)
    show.record(False)
    show.take.close()
    timelines = sorted(tmp_path.glob("*.jsonl"))
    assert timelines, "the long take kept its files"
    for path in timelines:
        video = path.with_name(read_timeline(path).header["video"])
        assert video.is_file(), f"{path.name} names {video.name}, which was never written"
        assert _decoded(video) >= 1
    assert len(list(tmp_path.glob("*.mkv"))) == len(timelines)


def _native_threads() -> int:
    """Every thread of this process, the encoders' own (x264, AAC) included: Python lists only its own."""
    return len(list(Path("/proc/self/task").iterdir()))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through Linux's /proc")
def test_finished_takes_give_their_encoder_threads_back(show: Show) -> None:
    def take_a_few_frames() -> None:
        show.record(True)
        frames = show.session.engine.stats.frames
        wait_for(lambda: show.session.engine.stats.frames >= frames + 3, timeout_s=60.0)
        show.record(False)
        wait_for(lambda: not any(t.name.startswith(("recorder:", "vj-record")) for t in threading.enumerate()),
                 timeout_s=30.0)

    wait_for(lambda: show.take.recorder is not None, timeout_s=60.0)
    show.record(False)  # the first take (--record) warms everything up
    take_a_few_frames()
    before = _native_threads()
    for _ in range(4):
        take_a_few_frames()
    after = _native_threads()
    # Each take's encoder ran 2 threads of its own here; after 4 takes none of them may remain.
    assert after <= before + 1, (before, after, sorted(t.name for t in threading.enumerate()))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through Linux's /proc")
def test_finished_takes_with_sound_give_their_encoder_threads_back(tmp_path: Path) -> None:
    rate = 48_000
    take = LiveTake(tmp_path / "take.mkv", 25.0, PresetConfig, encoder_preset="ultrafast", audio_format=(rate, 2))
    take.start()
    stop = threading.Event()

    def render_and_capture() -> None:  # frames as the engine gives them, and sound blocks as a card does
        i = 0
        while not stop.is_set():
            take.offer(make_frame(i, 64, 64))
            take.feed_audio(np.zeros((rate // 100, 2), np.float32), time.monotonic())
            i += 1
            time.sleep(0.01)

    worker = threading.Thread(target=render_and_capture, daemon=True)
    worker.start()

    def take_with_sound() -> None:
        take.start_recording()
        wait_for(lambda: (r := take.recorder) is not None and r.frames_written >= 3 and r.audio_samples_written > 0,
                 timeout_s=60.0)
        take.stop_recording()

    try:
        take_with_sound()
        before = _native_threads()
        for _ in range(4):
            take_with_sound()
        after = _native_threads()
    finally:
        stop.set()
        worker.join()
        take.close()
    assert not take.failures
    assert after <= before + 1, (before, after)
