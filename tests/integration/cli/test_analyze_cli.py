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
from vj.output.timeline import read_timeline

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
    assert {p["into"] for p in data["per_pair"]} == {"new"}  # a render diffuses every frame
    mean_of_pairs = sum(p["residual"] for p in data["per_pair"]) / (FRAMES - 1)
    assert mean_of_pairs == pytest.approx(data["residual"]["mean"], rel=0.05)
    bounded = json.loads(run_vj("analyze", str(rendered), "--json", "--every", "2", "--max-frames", "3").stdout)
    assert bounded["frames_analysed"] == 3 and bounded["pairs"] == 2 and bounded["every"] == 2


def test_a_live_take_is_split_into_diffused_and_held_frames(tmp_path: Path) -> None:
    # The tiny engine on this CPU runs well under 50 fps: the take holds frames between new ones.
    take = tmp_path / "take.mkv"
    done = run_vj("run", "drift", "--model", "tiny", "--width", "64", "--height", "64", "--frames", "16",
                  "--record", str(take), "--output-fps", "50", "--no-osc", "--no-web", "--no-zeroconf")
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(run_vj("analyze", str(take), "--json", "--per-pair").stdout)
    shown = data["timeline"]
    assert shown["live"] and shown["file"].endswith("take.jsonl")
    assert shown["diffused"] + shown["held"] == data["frames_decoded"]
    engine_frames = len(read_timeline(tmp_path / "take.jsonl").frames)
    shown_live = engine_frames - shown["never_shown"]  # a frame live only on ticks the recorder skipped is not seen
    skipped = any("missing from the video" in note for note in data["notes"])
    assert 2 <= shown["diffused"] <= shown_live and (skipped or shown["diffused"] == shown_live), data["notes"]
    assert shown["new"]["pairs"] + shown["held_pairs"]["pairs"] == data["pairs"]
    into = {kind: [p["residual"] for p in data["per_pair"] if p["into"] == kind] for kind in ("new", "held")}
    assert len(into["new"]) == shown["new"]["pairs"] and len(into["held"]) == shown["held_pairs"]["pairs"]
    assert sorted(into["new"])[len(into["new"]) // 2] > 5.0  # the random model's pictures: new noise every frame
    # A held frame repeats the picture: nothing left but the codec's noise. Live, a frame published within a
    # moment of a tick can land on the tick beside the one the timeline says (thread scheduling): most, not all.
    if into["held"]:
        assert sum(r < 1.0 for r in into["held"]) >= 0.75 * len(into["held"]), into


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
