"""Live take: toggled recording, paced video, timeline beside it, new file on resize."""

from __future__ import annotations

import time
from pathlib import Path

import av
import pytest

from tests.unit.output_helpers import make_frame
from vj.config import PresetConfig
from vj.output.take import LiveTake
from vj.output.timeline import read_timeline


def _feed(take: LiveTake, first: int, count: int, width: int = 64, height: int = 72) -> None:
    # Frame sizes a preset allows (multiples of 8, 64..2048): the take writes them into its header preset.
    for i in range(first, first + count):
        take.offer(make_frame(i, width=width, height=height))
        time.sleep(0.01)


def _decode(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return [int(f.to_ndarray(format="rgb24")[0, 0, 0]) for f in container.decode(video=0)]


def test_toggle_records_paced_video_and_timeline(tmp_path: Path) -> None:
    take = LiveTake(tmp_path / "show.mkv", 50.0, PresetConfig, live_state=lambda: {"zoom": 1.1},
                    encoder_preset="ultrafast")
    take.start()
    _feed(take, 0, 3)  # not recording: ignored
    assert take.status() == "" and not take.paths
    assert take.toggle() is True and take.is_recording
    _feed(take, 3, 20)
    assert "REC show.mkv" in take.status()
    assert take.toggle() is False
    reds = _decode(tmp_path / "show.mkv")
    assert len(reds) >= 10 and reds == sorted(reds) and reds[0] >= 3
    timeline = read_timeline(tmp_path / "show.jsonl")
    assert timeline.complete and [f.index for f in timeline.frames] == list(range(3, 23))
    assert timeline.start_frame == 3 and timeline.header["state"]["live"] == {"zoom": 1.1}
    assert timeline.header["output_fps"] == 50.0 and timeline.header["video"] == "show.mkv"
    # A second take gets its own pair of files.
    take.toggle()
    _feed(take, 23, 5)
    take.close()
    assert take.paths == [tmp_path / "show.mkv", tmp_path / "show-2.mkv"]
    assert read_timeline(tmp_path / "show-2.jsonl").frames[0].index == 23
    assert take.frames_written >= len(reds) + 1 and take.dropped >= 0


def test_a_resize_mid_take_continues_in_a_new_file(tmp_path: Path) -> None:
    take = LiveTake(tmp_path / "r.mp4", 50.0, PresetConfig, encoder_preset="ultrafast")
    take.start_recording()
    _feed(take, 0, 8, 64, 72)
    _feed(take, 8, 8, 96, 64)
    take.stop_recording()
    assert take.paths == [tmp_path / "r.mp4", tmp_path / "r-2.mp4"]
    with av.open(str(tmp_path / "r-2.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (96, 64)
    assert read_timeline(tmp_path / "r.jsonl").header["width"] == 64
    assert read_timeline(tmp_path / "r-2.jsonl").header["width"] == 96


def test_a_bad_path_does_not_stop_the_show(tmp_path: Path) -> None:
    take = LiveTake(tmp_path / "show.avi", 50.0, PresetConfig)
    take.start_recording()
    take.offer(make_frame(0, height=72))  # the recorder refuses .avi: logged, counted, recording off
    assert not take.is_recording and take.errors == 1


def test_each_default_take_is_named_after_its_own_start_time(tmp_path: Path) -> None:
    wall = [time.mktime((2025, 6, 1, 21, 0, 5, 0, 0, -1))]
    take = LiveTake(None, 50.0, PresetConfig, directory=tmp_path, wall_clock=lambda: wall[0],
                    encoder_preset="ultrafast")
    take.start_recording()
    _feed(take, 0, 3)
    take.stop_recording()
    wall[0] += 125  # the second take starts two minutes later
    take.start_recording()
    take.stop_recording()
    take.start_recording()  # and a third in the same second: not the same file
    take.close()
    assert [p.name for p in take.paths] == ["vj-untitled-20250601-210005.mkv", "vj-untitled-20250601-210210.mkv",
                                            "vj-untitled-20250601-210210-2.mkv"]
    assert (tmp_path / "vj-untitled-20250601-210005.mkv").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (writes fail with ENOSPC)")
def test_a_take_whose_file_fails_mid_show_ends_itself_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "take.mkv").symlink_to("/dev/full")  # every write fails: a full disk
    take = LiveTake(tmp_path / "take.mkv", 50.0, PresetConfig, encoder_preset="ultrafast")
    take.start_recording()
    for i in range(200):
        take.offer(make_frame(i, height=72))
        time.sleep(0.01)
        if not take.is_recording:
            break
    take.close()
    assert not take.is_recording and take.failed
    assert take.failures[0].startswith("take.mkv: OSError") and "No space left" in take.failures[0]
    assert take.status().startswith("REC FAILED take.mkv: OSError") and len(take.status()) < 80
    assert read_timeline(tmp_path / "take.jsonl").complete


def test_close_waits_for_a_take_another_thread_is_still_finishing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSC stop flushing the encoder on its own thread while the session closes: the file is complete."""
    import threading

    from vj.output import take as take_module

    release = threading.Event()

    class SlowToFinish(take_module.VideoRecorder):
        def close(self, timeout_s: float = 30.0) -> None:
            release.wait(60.0)
            super().close(timeout_s)

    monkeypatch.setattr(take_module, "VideoRecorder", SlowToFinish)
    take = LiveTake(tmp_path / "show.mkv", 50.0, PresetConfig, encoder_preset="ultrafast")
    take.start_recording()
    _feed(take, 0, 10)
    stopper = threading.Thread(target=take.stop_recording)
    stopper.start()
    deadline = time.monotonic() + 30.0
    while take.is_recording and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not take.is_recording
    closer = threading.Thread(target=take.close)
    closer.start()
    closer.join(0.5)
    assert closer.is_alive(), "close() returned while the stopped take's file was still being finished"
    release.set()
    closer.join(60.0)
    stopper.join(60.0)
    assert not closer.is_alive()
    with av.open(str(tmp_path / "show.mkv")) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 1
