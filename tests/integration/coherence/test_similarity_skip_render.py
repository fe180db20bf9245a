"""The similarity skip through the whole engine on the tiny model, with real video files as the input:
a still clip holds frames (bounded in a row, counted), a moving one and pure feedback hold none, and
the threshold 0 renders exactly as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_PRESET
from tests.helpers import CollectFrames

pytest.importorskip("cv2", reason="the test clips are written with OpenCV's blur")

from tests.integration.analysis.videos import moving, still, write_video  # noqa: E402
from tests.integration.coherence.renders import preset_with, render  # noqa: E402


def test_a_still_clip_holds_frames_at_most_max_in_a_row(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    clip = write_video(tmp_path / "still.mp4", still(16))
    frames = render(preset_with(clip, video_mix=0.5, similarity_skip=0.9, similarity_skip_max=3), tiny_backend, 12)
    pattern = "".join("D" if f.diffused else "S" for f in frames)
    # Frame 0 has nothing to compare with, frame 1 decides before frame 0's measure is known (CPU: the
    # measure arrives with the frame), then each diffusion is followed by three held frames.
    assert pattern == "DDSSSDSSSDSS"
    for before, frame in zip(frames, frames[1:], strict=False):
        if not frame.diffused:
            assert np.array_equal(before.image, frame.image)  # the last output, published again


def test_a_moving_clip_and_pure_feedback_hold_nothing(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    clip = write_video(tmp_path / "moving.mp4", moving(16, shift=6))
    frames = render(preset_with(clip, video_mix=0.5, similarity_skip=0.98), tiny_backend, 10)
    assert all(f.diffused for f in frames)
    feedback = render(preset_with(None, similarity_skip=0.98, zoom=1.0, angle=0.0), tiny_backend, 10)
    assert all(f.diffused for f in feedback)
    unmixed = render(preset_with(write_video(tmp_path / "still.mp4", still(12)), video_mix=0.0,
                                 similarity_skip=0.9), tiny_backend, 8)
    assert all(f.diffused for f in unmixed)  # the input does not reach the frame: nothing to compare


def test_threshold_0_renders_exactly_as_without_it(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    clip = write_video(tmp_path / "still.mp4", still(12))
    off = render(preset_with(clip, video_mix=0.5, similarity_skip=0.0), tiny_backend, 6)
    default = render(preset_with(clip, video_mix=0.5), tiny_backend, 6)
    assert all(f.diffused for f in off)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(off, default, strict=True))


def test_vj_render_says_how_many_frames_it_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vj.cli import main

    clip = write_video(tmp_path / "still.mp4", still(16))
    preset = tmp_path / "skip.toml"
    preset.write_text(TINY_PRESET + "video_mix = 0.5\nsimilarity_skip = 0.9\nsimilarity_skip_max = 3\n"
                      f'[input]\nsource = "{clip}"\n')
    out = tmp_path / "skip.mkv"
    assert main(["render", str(preset), "--frames", "12", "--out", str(out), "--no-progress",
                 "--x264-preset", "ultrafast"]) == 0
    assert "wrote 12 frames, skipped 8 (similarity_skip held the last output)" in capsys.readouterr().err


def test_a_live_show_counts_skipped_frames_in_its_status_line_and_page_figures(  # noqa: ANN001
        tiny_backend, tmp_path: Path) -> None:
    from vj.session import LiveSession
    from vj.session.web_control import _figures

    clip = write_video(tmp_path / "still.mp4", still(30))
    session = LiveSession(preset_with(clip, video_mix=0.5, similarity_skip=0.9, similarity_skip_max=3),
                          backend=tiny_backend)
    sink = CollectFrames()
    session.add_output(sink)
    session.run(frames=12)
    held = sum(not f.diffused for f in sink.frames)
    assert held >= 4 and session.engine.stats.skipped == held
    assert f"skipped {held}" in session.status_line()
    assert _figures(session)["skipped"] == held
