"""`vj analyze` in a child process: a real tiny-model `vj render`, then its flicker figures as a table and JSON;
bad input is one clear line and a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_vj
from tests.integration.analysis.videos import still, write_video

FRAMES = 8


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip = tmp_path_factory.mktemp("render") / "clip.mkv"
    done = run_vj("render", "zoom-tunnel", "--model", "tiny", "--width", "64", "--height", "64", "--frames",
                  str(FRAMES), "--out", str(clip), "--x264-preset", "ultrafast", "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    return clip


def test_the_table_names_each_figure_and_the_timeline_split(rendered: Path) -> None:
    done = run_vj("analyze", str(rendered))
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert f"{FRAMES} of {FRAMES} decoded frames analysed ({FRAMES - 1} pairs)" in out
    for row in ("warped residual", "raw difference", "flow magnitude"):
        assert any(line.startswith(row) for line in out.splitlines()), out
    assert f"timeline clip.jsonl (offline render: one video frame per diffused frame): {FRAMES} video frames " \
           "diffused, 0 held" in out
    assert f"{FRAMES - 1} pairs into a new frame" in out


def test_json_carries_the_same_figures_for_scripts(rendered: Path) -> None:
    done = run_vj("analyze", str(rendered), "--json", "--per-pair", "--flow", "farneback")
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(done.stdout)
    assert data["frames_decoded"] == data["frames_analysed"] == FRAMES and data["pairs"] == FRAMES - 1
    assert data["flow_method"] == "farneback" and (data["width"], data["height"]) == (64, 64)
    assert set(data["residual"]) == {"mean", "p50", "p90", "p99"}
    assert 0.0 < data["residual"]["mean"] <= data["residual"]["p99"] <= 255.0
    assert data["flow"]["mean"] > 0.0  # the zoom moves the picture
    assert data["timeline"]["diffused"] == FRAMES and data["timeline"]["held"] == 0
    assert data["timeline"]["new"]["pairs"] == FRAMES - 1
    assert [(p["previous"], p["current"]) for p in data["per_pair"]] == [(i, i + 1) for i in range(FRAMES - 1)]
    mean_of_pairs = sum(p["residual"] for p in data["per_pair"]) / (FRAMES - 1)
    assert mean_of_pairs == pytest.approx(data["residual"]["mean"], rel=0.05)
    bounded = json.loads(run_vj("analyze", str(rendered), "--json", "--every", "2", "--max-frames", "3").stdout)
    assert bounded["frames_analysed"] == 3 and bounded["pairs"] == 2 and bounded["every"] == 2


def test_analyze_loads_neither_torch_nor_the_engine(rendered: Path) -> None:
    code = ("import sys; from vj.cli.main import main; status = main(['analyze', sys.argv[1]]); "
            "print('LOADED', sorted(m for m in ('torch', 'diffusers', 'vj.engine', 'vj.session') if m in sys.modules),"
            " status, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(rendered)], capture_output=True, text=True, timeout=120)
    assert "LOADED [] 0" in done.stderr, done.stderr[-2000:]


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vj: error: "), done.stderr
    return lines[0]


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    line = _one_error_line(run_vj("analyze", str(tmp_path / "gone.mkv")))
    assert "gone.mkv: no such file; expected a video file" in line


def test_a_file_that_is_no_video_is_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    line = _one_error_line(run_vj("analyze", str(text)))
    assert "notes.mp4: cannot be opened as video" in line and "expected a video file" in line


def test_a_one_frame_video_is_one_line(tmp_path: Path) -> None:
    video = write_video(tmp_path / "one.mkv", still(1))
    line = _one_error_line(run_vj("analyze", str(video)))
    assert "one.mkv: 1 decoded frame(s); expected at least two frames to compare" in line


def test_without_opencv_one_line_names_the_extra_to_install(rendered: Path) -> None:
    code = ("import sys; sys.modules['cv2'] = None; from vj.cli.main import main; "
            "sys.exit(main(['analyze', sys.argv[1]]))")
    done = subprocess.run([sys.executable, "-c", code, str(rendered)], capture_output=True, text=True, timeout=120)
    line = _one_error_line(done)
    assert "vj analyze needs OpenCV" in line and "pip install 'vj[headless]'" in line


@pytest.mark.parametrize("flag, value, expected", [("--every", "0", "expected frames at least 1, found 0"),
                                                   ("--max-frames", "1", "expected frames at least 2, found 1"),
                                                   ("--flow", "lk", "invalid choice: 'lk'")])
def test_bad_flags_are_refused_by_the_parser(tmp_path: Path, flag: str, value: str, expected: str) -> None:
    done = run_vj("analyze", str(tmp_path / "x.mkv"), flag, value)
    assert done.returncode == 2 and expected in done.stderr
