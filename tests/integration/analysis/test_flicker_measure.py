"""The flicker measure on real H.264 files with a known answer, decoded by PyAV in one streaming pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.integration.analysis.videos import flickering, moving, still, write_live_timeline, write_video
from vj.analysis.flicker import Histogram, analyze_video
from vj.control.audio.files import write_wav
from vj.errors import VjError

FRAMES = 12
SHIFT = 3


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {"still": write_video(folder / "still.mkv", still(FRAMES)),
            "moving": write_video(folder / "moving.mkv", moving(FRAMES, SHIFT)),
            "flickering": write_video(folder / "flickering.mkv", flickering(FRAMES))}


def test_a_still_picture_has_no_residual_no_difference_and_no_motion(videos: dict[str, Path]) -> None:
    report = analyze_video(videos["still"])
    assert report.frames_decoded == report.frames_analysed == FRAMES and len(report.pairs) == FRAMES - 1
    assert report.residual.mean < 0.1 and report.raw.mean < 0.1
    assert report.flow.mean < 0.05
    assert report.shown is None  # no timeline beside it


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_a_picture_moving_by_a_known_shift_has_that_flow_and_a_small_residual(videos: dict[str, Path],
                                                                               method: str) -> None:
    report = analyze_video(videos["moving"], method=method)
    assert report.flow.mean == pytest.approx(SHIFT, abs=0.4)
    assert report.flow.percentiles[50.0] == pytest.approx(SHIFT, abs=0.3)
    assert report.raw.mean > 8.0  # the picture changed a lot ...
    assert report.residual.mean < min(1.0, report.raw.mean / 10)  # ... and motion explains nearly all of it
    for pair in report.pairs:  # the columns that entered at the right border have no source: left out
        assert pair.compared == pytest.approx(1 - SHIFT / 96, abs=0.04)


def test_steady_is_below_moving_is_below_flickering(videos: dict[str, Path]) -> None:
    residual = {name: analyze_video(path).residual.mean for name, path in videos.items()}
    assert residual["still"] < residual["moving"] < residual["flickering"]
    assert residual["flickering"] > 15.0  # noise of sigma 40: flow cannot explain it away
    assert residual["flickering"] > 4 * residual["moving"]


def test_every_and_max_frames_bound_the_pass(videos: dict[str, Path]) -> None:
    every = analyze_video(videos["moving"], every=2)
    assert [(p.previous, p.current) for p in every.pairs] == [(i, i + 2) for i in range(0, FRAMES - 2, 2)]
    assert every.flow.mean == pytest.approx(2 * SHIFT, abs=0.6)  # pairs two frames apart move twice as far
    bounded = analyze_video(videos["moving"], max_frames=4)
    assert bounded.frames_decoded == bounded.frames_analysed == 4 and len(bounded.pairs) == 3
    both = analyze_video(videos["moving"], every=3, max_frames=3)
    assert both.frames_analysed == 3 and both.frames_decoded == 7  # frames 0, 3, 6: decoding stops there


def test_a_live_timeline_splits_pairs_into_new_and_held_frames(tmp_path: Path) -> None:
    # A slow engine: 4 diffused frames on 12 video ticks (held 3, 3, 4, 2 ticks), each a new flickering picture.
    pictures = flickering(4)
    held = [3, 3, 4, 2]
    video = write_video(tmp_path / "take.mkv", [pictures[i] for i, n in enumerate(held) for _ in range(n)])
    write_live_timeline(tmp_path / "take.jsonl", "take.mkv", [0.0, 3.0, 6.0, 10.0], first_tick=0, last_tick=11)
    report = analyze_video(video)
    assert report.shown is not None and report.shown.live
    assert report.shown_counts() == (4, 8)
    split = report.split_by_shown()
    assert split is not None
    new, still_pairs = split
    assert [p.current for p in new] == [3, 6, 10]
    assert len(still_pairs) == 8
    assert max(p.residual for p in still_pairs) < 1.0 < 15.0 < min(p.residual for p in new)
    assert report.notes == ()
    assert analyze_video(video, use_timeline=False).shown is None


def test_a_timeline_of_another_video_is_named_and_not_used(tmp_path: Path) -> None:
    video = write_video(tmp_path / "take.mkv", still(3))
    write_live_timeline(tmp_path / "take.jsonl", "other.mkv", [0.0], first_tick=0, last_tick=2)
    report = analyze_video(video)
    assert report.split_by_shown() is None
    assert any("belongs to other.mkv" in note for note in report.notes)


def test_a_timeline_that_counts_other_frames_is_noted(tmp_path: Path) -> None:
    video = write_video(tmp_path / "take.mkv", still(5))
    write_live_timeline(tmp_path / "take.jsonl", "take.mkv", [0.0, 1.0], first_tick=0, last_tick=2)
    report = analyze_video(video)
    assert any("accounts for 3 video frames, the file spans 5" in note for note in report.notes)


def test_ticks_the_recorder_skipped_are_matched_by_time(tmp_path: Path) -> None:
    # Under load a live take's recorder skips ticks and leaves a gap in the video's clock: ticks 4 and 5 are
    # missing, so video frame 4 is tick 6. Counted by frame number, frame 4 would be taken for tick 4.
    pictures = flickering(3)
    ticks = [0, 1, 2, 3, 6, 7, 8]
    shown = [0, 0, 1, 1, 2, 2, 2]  # engine frames 0 (ticks 0-1), 1 (ticks 2-5), 2 (ticks 6-8)
    video = write_video(tmp_path / "take.mkv", [pictures[i] for i in shown], ticks=ticks)
    write_live_timeline(tmp_path / "take.jsonl", "take.mkv", [0.0, 2.0, 6.0], first_tick=0, last_tick=8)
    report = analyze_video(video)
    assert report.ticks == tuple(ticks)
    assert report.shown_counts() == (3, 4)
    split = report.split_by_shown()
    assert split is not None
    assert [p.current for p in split[0]] == [2, 4]
    assert any("2 tick(s) missing from the video" in note for note in report.notes)


@pytest.mark.parametrize("make, expected", [
    (lambda d: d / "missing.mkv", "no such file"),
    (lambda d: d, "is not a file"),
    (lambda d: (d / "notes.mkv").write_text("not a video\n") and d / "notes.mkv", "cannot be opened as video"),
    (lambda d: write_video(d / "one.mkv", still(1)), "1 decoded frame(s); expected at least two frames"),
    (lambda d: write_wav(d / "tone.wav", np.zeros(800, np.float32), 8000) or d / "tone.wav", "has no video stream"),
])
def test_bad_input_is_one_clear_error(tmp_path: Path, make, expected: str) -> None:  # noqa: ANN001
    with pytest.raises(VjError) as err:
        analyze_video(make(tmp_path))
    assert expected in str(err.value)


def test_histogram_percentiles_are_exact_to_a_bin() -> None:
    histogram = Histogram(0.25, 256.0)
    values = np.arange(0, 200, 0.01)
    histogram.add(values)
    assert histogram.mean == pytest.approx(values.mean())
    for q in (50.0, 90.0, 99.0):
        assert histogram.percentile(q) == pytest.approx(np.percentile(values, q), abs=0.25)
    histogram.add(np.array([10_000.0]))  # beyond the top: counted in the top bin, mean still exact
    assert histogram.total == len(values) + 1 and histogram.percentile(100.0) <= 256.0


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through Linux's /proc")
def test_decoding_starts_no_thread_per_core(videos: dict[str, Path]) -> None:
    from vj.analysis.decode import rgb_frames

    def native_threads() -> int:  # every thread of this process, FFmpeg's own included
        return len(list(Path("/proc/self/task").iterdir()))

    before = native_threads()
    during = [native_threads() for _ in rgb_frames(videos["moving"])]
    assert len(during) == FRAMES
    # The decoder on this thread, the colour conversion on one scaler worker: FFmpeg's defaults (a worker per
    # core for each, plus one) added 5 threads on this project's 2-core machine.
    assert max(during) - before <= 1
