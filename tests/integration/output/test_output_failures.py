"""Output files that cannot be written: refused before the model loads, or reported when they fail mid-show.

Real child processes and real files: /proc (where the permission bits say yes but nothing
can be created) and /dev/full (every write fails with ENOSPC, a full disk).
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import pytest

from tests.helpers import run_vj
from vj.output.paths import OutputPathError, check_video_path
from vj.output.timeline import read_timeline

TINY = ("--model", "tiny", "--width", "64", "--height", "64")
# A model path that cannot load: a path check that runs first names the path, not the model.
NO_MODEL = ("--model", "/nonexistent/model.safetensors", "--width", "64", "--height", "64")
LIVE = ("--osc-port", "0", "--no-zeroconf")


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("vj: error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
@pytest.mark.parametrize("command", ["render", "run"])
def test_an_unwritable_output_is_one_error_line_before_the_model_loads(command: str) -> None:
    flag = "--out" if command == "render" else "--record"
    extra = ("--frames", "2") + (LIVE if command == "run" else ())
    result = run_vj(command, "drift", *NO_MODEL, flag, "/proc/take.mkv", *extra, timeout=120)
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert f"{flag} /proc/take.mkv: cannot write there" in line and "writable folder" in line
    assert "loading" not in result.stderr  # refused before the model was even looked at


def test_path_checks_name_what_was_wrong(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    folder = tmp_path / "dir.mkv"
    folder.mkdir()
    with pytest.raises(OutputPathError, match="--out .*: expected a .mkv, .mp4 or .mov file name"):
        check_video_path(tmp_path / "take.avi", "--out")
    with pytest.raises(OutputPathError, match="notes.txt is not a folder"):
        check_video_path(a_file / "sub" / "take.mkv", "--out")
    with pytest.raises(OutputPathError, match="is a folder, expected a file name"):
        check_video_path(folder, "--out")
    ok = check_video_path(tmp_path / "new" / "deeper" / "take.mp4", "--record")
    assert not ok.exists() and not (tmp_path / "new").exists()  # the check leaves nothing behind
    assert sorted(tmp_path.iterdir()) == [folder, a_file]


def _full_disk(tmp_path: Path, name: str) -> Path:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full (a device whose writes fail with ENOSPC)")
    link = tmp_path / name
    link.symlink_to("/dev/full")
    return link


def test_a_recording_that_fails_mid_show_is_reported_and_the_show_goes_on(tmp_path: Path) -> None:
    video = _full_disk(tmp_path, "take.mkv")
    result = run_vj("run", "drift", *TINY, "--frames", "30", "--record", str(video), *LIVE)
    assert result.returncode == 1, result.stderr
    assert "stopped after 30 frames" in result.stderr  # every frame rendered: the show went on
    assert "REC FAILED take.mkv" in result.stdout + result.stderr  # the status line says so
    line = _one_error_line(result.stderr)
    assert "recording failed: take.mkv" in line and "No space left on device" in line
    timeline = read_timeline(tmp_path / "take.jsonl")
    assert timeline.complete and len(timeline.frames) >= 1  # the take closed itself cleanly


def test_an_offline_render_into_a_full_disk_fails(tmp_path: Path) -> None:
    out = _full_disk(tmp_path, "clip.mp4")
    result = run_vj("render", "drift", *TINY, "--frames", "3", "--out", str(out), "--no-progress")
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert f"writing {out} failed" in line and "No space left on device" in line
    assert "wrote" not in result.stderr


def test_a_writable_render_still_succeeds(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "clip.mp4"
    result = run_vj("render", "drift", *TINY, "--frames", "3", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3
