"""Input sources on real files: source syntax, checks before load, the clip cursor, the capture threads."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.input_helpers import clip_colour, write_clip, write_halves
from vj.config import InputConfig
from vj.input.camera import LiveCamera, wait_for_frame
from vj.input.clip import ClipSync, LiveClip, OfflineClip
from vj.input.open import check_inputs
from vj.input.slot import LatestFrame
from vj.input.spec import InputError, SourceKind, parse_source
from vj.input.video import ClipCursor, open_capture

cv2 = pytest.importorskip("cv2", reason="OpenCV is the video input's reader (pip install 'vj[headless]')")


def colour(frame: np.ndarray | None) -> tuple[int, int, int]:
    assert frame is not None
    return tuple(int(v) for v in frame[0, 0])  # type: ignore[return-value]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mkv")


# ---- what a source string means ------------------------------------------------------------
def test_source_strings() -> None:
    assert parse_source("webcam").kind is SourceKind.WEBCAM and parse_source("webcam").camera == 0
    assert parse_source("webcam:2").camera == 2
    assert parse_source("ndi:Studio (cam)").target == "Studio (cam)" and parse_source("ndi:x").kind is SourceKind.NDI
    assert parse_source("a/b.PNG").kind is SourceKind.IMAGE and parse_source("x.mp4").kind is SourceKind.CLIP


@pytest.mark.parametrize(("text", "message"), [
    ("webcam:one", "expected webcam:N with a camera number N >= 0"), ("webcam:-1", "found '-1'"),
    ("ndi:", "expected ndi:NAME"), ("  ", "found an empty string")])
def test_bad_source_strings_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_source(text)


def test_checks_before_load_name_the_file_and_the_problem(tmp_path: Path, clip: Path) -> None:
    with pytest.raises(InputError, match="missing.mp4: no such file"):
        check_inputs(InputConfig(source=str(tmp_path / "missing.mp4")))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_text("not a video")
    with pytest.raises(InputError, match="garbage.mp4"):
        check_inputs(InputConfig(source=str(garbage)))
    with pytest.raises(InputError, match="a live source; `vj render` takes a video clip or an image"):
        check_inputs(InputConfig(source="webcam:0"), offline=True)
    with pytest.raises(InputError, match="--init-image .*nope.png: no such file"):
        check_inputs(InputConfig(init_image=str(tmp_path / "nope.png")))
    checked = check_inputs(InputConfig(source=str(clip)))
    assert checked.clip is not None and (checked.clip.width, checked.clip.height, checked.clip.fps) == (32, 24, 10.0)
    image = write_halves(tmp_path / "halves.png")
    checked = check_inputs(InputConfig(source=str(clip), init_image=str(tmp_path / "halves.png")))
    assert checked.init_image is not None and np.array_equal(checked.init_image, image)


# ---- the latest-frame slot -----------------------------------------------------------------
def test_slot_keeps_only_the_newest_picture_and_counts_the_stale_ones() -> None:
    slot = LatestFrame()
    assert slot.latest() is None
    a, b, c = (np.full((2, 2, 3), v, np.uint8) for v in (1, 2, 3))
    slot.put(a)
    assert slot.latest() is a
    slot.put(b)
    slot.put(c)  # b was never read: skipped, not queued
    assert slot.latest() is c and slot.latest() is c and (slot.received, slot.skipped) == (3, 1)


# ---- the clip cursor: exact frames, loop, once, extraction ---------------------------------
def test_frames_come_out_rgb_whatever_channels_the_capture_gives() -> None:
    from vj.input.video import read_rgb

    class Gives:  # a capture device's frame layouts (grey, BGR, BGRA), as cv2.VideoCapture.read returns them
        def __init__(self, frame: np.ndarray) -> None:
            self.frame = frame

        def read(self) -> tuple[bool, np.ndarray]:
            return True, self.frame

    bgr = np.array([[[10, 20, 30], [40, 50, 60]]], np.uint8)
    bgra = np.concatenate([bgr, np.full((1, 2, 1), 255, np.uint8)], axis=2)
    grey = np.array([[7, 9]], np.uint8)
    for frame, want in ((bgr, bgr[..., ::-1]), (bgra, bgr[..., ::-1]), (grey, np.stack([grey] * 3, axis=2))):
        got = read_rgb(Gives(frame))
        assert got is not None and got.shape == (1, 2, 3) and got.flags.c_contiguous and got.flags.writeable
        assert np.array_equal(got, want) and got is not frame
    with pytest.raises(InputError, match="2 channels: expected grey, BGR or BGRA"):
        read_rgb(Gives(np.zeros((1, 2, 2), np.uint8)))


def test_cursor_reads_exact_frames_loops_and_holds(clip: Path) -> None:
    looping = ClipCursor(lambda: open_capture(str(clip)), loop=True)
    assert [colour(looping.frame(k)) for k in (0, 3, 9, 10, 13)] == [clip_colour(k) for k in (0, 3, 9, 0, 3)]
    assert looping.length == 10
    once = ClipCursor(lambda: open_capture(str(clip)), loop=False)
    assert [colour(once.frame(k)) for k in (8, 12, 30)] == [clip_colour(k) for k in (8, 9, 9)] and once.ended
    nth = ClipCursor(lambda: open_capture(str(clip)), loop=False, first=1, every=3, last=7)
    assert [colour(nth.frame(k)) for k in range(4)] == [clip_colour(k) for k in (1, 4, 7, 7)]


def test_offline_clip_follows_the_render_frames_exactly(clip: Path) -> None:
    def pictures(start: int, count: int, **kw: object) -> list[tuple[int, int, int]]:
        source = OfflineClip(str(clip), 10.0, 20.0, start=start, **kw)  # type: ignore[arg-type]
        source.start()
        try:
            return [colour(source.frame_for(i, 0.0)) for i in range(start, start + count)]
        finally:
            source.close()

    # a 10 fps clip in a 20 fps render: frame i shows the clip at i/20 s, i.e. clip frame i // 2
    assert pictures(0, 6) == [clip_colour(i // 2) for i in range(6)]
    assert pictures(17, 6) == [clip_colour((i // 2) % 10) for i in range(17, 23)]  # looping, from a later start
    held = pictures(17, 6, loop=False)
    assert held == [clip_colour(min(i // 2, 9)) for i in range(17, 23)]
    assert pictures(0, 4, sync=ClipSync.FRAME, every=2) == [clip_colour(k) for k in (0, 2, 4, 6)]


def test_a_clip_that_ends_mid_show_holds_its_last_frame(tmp_path: Path) -> None:
    fast = write_clip(tmp_path / "fast.mkv", frames=5, fps=50)  # ends 0.1 s in
    source = LiveClip(str(fast), 50.0, loop=False)
    source.start()
    try:
        deadline = time.monotonic() + 10
        while not source.cursor.ended and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert source.cursor.ended and colour(source.latest()) == clip_colour(4)
        assert "ended, holding the last frame" in source.status()
    finally:
        source.close()


# ---- a camera that vanishes comes back -----------------------------------------------------
def test_a_vanished_camera_is_reopened_without_stopping(tmp_path: Path) -> None:
    # The camera path reads a video file through the same cv2.VideoCapture code: the file ending
    # is a camera that stops delivering; renaming it away is a camera that is unplugged.
    device = write_clip(tmp_path / "camera.mkv", frames=5, fps=10)
    away = tmp_path / "unplugged.mkv"
    camera = LiveCamera(str(device), retry_s=0.1)
    camera.start()
    try:
        assert wait_for_frame(camera, 10)
        os.rename(device, away)
        deadline = time.monotonic() + 10
        while not (camera.lost and camera.failed_opens) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert camera.lost >= 1 and camera.failed_opens >= 1 and "lost, reopening" in camera.status()
        before = camera.received
        os.rename(away, device)
        deadline = time.monotonic() + 10
        while camera.received <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert camera.received > before and camera.opened >= 2 and "reopened" in camera.status()
    finally:
        camera.close()
    assert not camera.is_open


def test_a_capture_that_starts_failing_is_reopened(tmp_path: Path) -> None:
    device = write_clip(tmp_path / "camera.mkv", frames=50, fps=10)
    opened: list[object] = []

    class FailsAfterThree:
        def __init__(self, capture: object) -> None:
            self.capture, self.reads = capture, 0

        def read(self) -> tuple[bool, object]:
            self.reads += 1
            return self.capture.read() if self.reads <= 3 else (False, None)  # type: ignore[attr-defined]

        def release(self) -> None:
            self.capture.release()  # type: ignore[attr-defined]

    def opener(target: int | str) -> FailsAfterThree:
        opened.append(target)
        return FailsAfterThree(open_capture(target))

    camera = LiveCamera(str(device), retry_s=0.05, opener=opener)
    camera.start()
    try:
        deadline = time.monotonic() + 10
        while len(opened) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        camera.close()
    assert len(opened) >= 3 and camera.lost >= 2 and camera.received >= 6


# ---- on the device side: resized, centre-cropped, aspect kept ------------------------------
def test_input_pictures_cover_the_render_size_keeping_their_aspect() -> None:
    from vj.engine.input_stage import fit_to

    wide = torch.zeros(1, 3, 48, 96)
    wide[..., :8] = 1.0  # a band at the far left is cropped away when 96x48 covers 64x64
    wide[..., 44:52] = 0.5  # the centre stays in the middle
    out = fit_to(wide, 64, 64)
    assert out.shape == (1, 3, 64, 64) and float(out[..., :2].max()) < 0.05
    assert abs(float(out[0, 0, 32, 32]) - 0.5) < 0.05
