"""`--output-size` end to end in real `vj` child processes on the tiny model, the files read by a real decoder."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from tests.helpers import run_vj

LIVE = ("--no-osc", "--no-web", "--no-zeroconf")


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def header(path: Path) -> dict:
    return json.loads(path.with_suffix(".jsonl").read_text().splitlines()[0])


def test_render_writes_the_file_at_the_output_size_with_bars(tmp_path: Path) -> None:
    out = tmp_path / "wide.mp4"
    result = run_vj("render", "drift", "--model", "tiny", "--width", "64", "--height", "64", "--frames", "2",
                    "--out", str(out), "--no-progress", "--output-size", "192x108", "--output-fit", "fit")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "to " + str(out) + " at 192x108 (fit)" in result.stderr
    frames = decoded(out)
    assert len(frames) == 2 and all(f.shape == (108, 192, 3) for f in frames)
    # 64x64 fitted to 192x108: a 108x108 picture centred, 42 black columns either side (H.264: near black).
    last = frames[-1].astype(int)
    assert last[:, :38].max() <= 24 and last[:, -38:].max() <= 24
    assert last[:, 50:142].std() > 1.0  # the picture itself
    meta = header(out)
    assert (meta["width"], meta["height"], meta["video_size"]) == (64, 64, [192, 108])  # the render size kept


def test_run_records_at_the_output_size_and_the_take_replays_at_the_render_size(tmp_path: Path) -> None:
    take = tmp_path / "take.mkv"
    result = run_vj("run", "drift", "--model", "tiny", "--width", "64", "--height", "64", "--frames", "6",
                    "--record", str(take), "--output-size", "128x72", "--output-fit", "fill", *LIVE)
    assert result.returncode == 0, result.stderr[-2000:]
    frames = decoded(take)
    assert frames and all(f.shape == (72, 128, 3) for f in frames)
    meta = header(take)
    assert (meta["width"], meta["height"], meta["video_size"]) == (64, 64, [128, 72])
    again = tmp_path / "again.mp4"
    replayed = run_vj("render", "--replay", str(take.with_suffix(".jsonl")), "--out", str(again), "--no-progress",
                      "--output-size", "96x54", "--output-fit", "stretch")
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    assert "at 64x64" in replayed.stderr  # rendered at the take's size
    assert all(f.shape == (54, 96, 3) for f in decoded(again)) and len(decoded(again)) == len(frames)


def test_run_can_record_at_the_render_size_while_the_outputs_get_the_output_size(tmp_path: Path) -> None:
    take = tmp_path / "take.mkv"
    result = run_vj("run", "drift", "--model", "tiny", "--width", "64", "--height", "64", "--frames", "6",
                    "--record", str(take), "--output-size", "128x72", "--record-size", "render", *LIVE)
    assert result.returncode == 0, result.stderr[-2000:]
    frames = decoded(take)
    assert frames and all(f.shape == (64, 64, 3) for f in frames)
    assert "video_size" not in header(take)


def test_a_size_an_output_cannot_take_is_one_line_before_anything_loads(tmp_path: Path) -> None:
    for args, message in [
        (("--output-size", "1921x1080"), "argument --output-size: 1921x1080 cannot be encoded (H.264 and NDI take "
                                         "even sizes only); try 1922x1080"),
        (("--output-size", "0x0"), "argument --output-size: the width must be 16..8192 pixels, found 0x0"),
        (("--output-size", "big"), "argument --output-size: expected WIDTHxHEIGHT such as 1920x1080, found 'big'"),
        (("--output-size-for", "ndi=1281x720"), "argument --output-size-for: ndi: 1281x720 cannot be encoded"),
        (("--output-rate-mode", "blend", "--output-blend-steps", "5"),
         "argument --output-blend-steps: expected 1 to 4 pictures between frames, found 5"),
    ]:
        result = run_vj("run", "drift", "--model", "tiny", *args, *LIVE)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "loading" not in result.stderr
    result = run_vj("run", "drift", "--model", "tiny", "--output-size-for", "ndi=1280x720", *LIVE)
    assert result.returncode != 0 and "--output-size-for ndi=...: that output is not on (add --ndi)" in result.stderr
    assert "loading" not in result.stderr
    result = run_vj("run", "drift", "--model", "tiny", "--upscaler", str(tmp_path / "x4.pth"), *LIVE)
    assert result.returncode != 0 and "--upscaler runs only with --output-size" in result.stderr
    assert "loading" not in result.stderr


def test_the_dry_run_plan_names_the_output_size_and_rate(tmp_path: Path) -> None:
    result = run_vj("run", "drift", "--model", "tiny", "--dry-run", "--record", str(tmp_path / "take.mkv"),
                    "--output-size", "1920x1080", "--output-fit", "fill", "--record-size", "render",
                    "--output-rate-mode", "blend", *LIVE)
    assert result.returncode == 0, result.stderr
    assert ("at 1920x1080 (fill, bilinear; recorded at the render size), blending between frames (1 made on "
            "the device per frame)" in result.stdout), result.stdout
    result = run_vj("run", "drift", "--model", "tiny", "--dry-run", "--output-size", "1280x720",
                    "--record", str(tmp_path / "t.mkv"), "--output-rate-mode", "blend-host", *LIVE)
    assert result.returncode == 0 and "blending between frames (on the host)" in result.stdout, result.stdout
    result = run_vj("run", "drift", "--model", "tiny", "--dry-run", "--output-blend-steps", "2", *LIVE)
    assert result.returncode != 0 and ("--output-blend-steps: only with --output-rate-mode blend (found repeat)"
                                       in result.stderr), result.stderr
    assert "loading" not in result.stderr
