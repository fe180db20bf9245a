"""A live show with an input: the clip plays against the wall clock and the status line reports it;
a bad source is refused before the model loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TINY_PRESET
from tests.helpers import CollectFrames, run_vj
from tests.input_helpers import clip_colour, write_clip
from vj.config import parse_preset
from vj.session import LiveSession

pytest.importorskip("cv2", reason="OpenCV is the video input's reader (pip install 'vj[headless]')")


def test_a_live_show_mixes_in_a_clip_and_reports_it(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    clip = write_clip(tmp_path / "clip.mkv", frames=10, fps=10)
    preset = parse_preset(TINY_PRESET + f'video_mix = 1.0\n[input]\nsource = "{clip}"\n', "live.toml")
    preset = preset.replace(params={**preset.params, "strength": 1.0})
    session = LiveSession(preset, backend=tiny_backend)
    sink = CollectFrames()
    session.add_output(sink)
    lines: list[str] = []
    session.run(frames=12, on_status=lines.append, status_every_s=0.2)
    colours = {clip_colour(k) for k in range(10)}
    shown = [tuple(int(v) for v in f.image[32, 32]) for f in sink.frames]
    assert len(shown) == 12 and all(c in colours for c in shown[1:]), shown
    assert any(f"input {clip}" in line for line in lines) or f"input {clip}" in session.status_line()
    assert session.input is not None and session.input.received >= 1  # type: ignore[attr-defined]


def test_a_missing_input_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    done = run_vj("run", "zoom-tunnel", "--model", "tiny", "--input", str(tmp_path / "missing.mp4"), "--frames", "1",
                  "--no-osc", "--no-web")
    assert done.returncode == 2 and "missing.mp4: no such file" in done.stderr and "loading" not in done.stderr
    done = run_vj("render", "zoom-tunnel", "--model", "tiny", "--input", "webcam:first", "--out",
                  str(tmp_path / "x.mp4"))
    assert done.returncode == 2 and "expected webcam:N with a camera number" in done.stderr
