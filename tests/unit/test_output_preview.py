"""Preview key handling, overlay and PNG snapshots, tested without a window."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.unit.output_helpers import FakeTime, make_frame
from vj.errors import DeviceNotConnected
from vj.output.preview import (
    KEYS,
    PreviewActions,
    PreviewWindow,
    action_for,
    check_preview_available,
    help_lines,
    read_snapshot_metadata,
    save_snapshot,
)


class FakeWindow:
    def __init__(self, keys: list[int] | None = None) -> None:
        self.keys = list(keys or [])
        self.shown: list[np.ndarray] = []
        self.fullscreen: list[bool] = []
        self.opened: list[str] = []
        self.closed = False

    def open(self, title: str) -> None:
        self.opened.append(title)

    def show(self, image_bgr: np.ndarray) -> None:
        self.shown.append(image_bgr)

    def poll_key(self, wait_ms: int) -> int:
        return self.keys.pop(0) if self.keys else -1

    def set_fullscreen(self, on: bool) -> None:
        self.fullscreen.append(on)

    def close(self) -> None:
        self.closed = True


def test_key_codes_map_to_actions() -> None:
    assert action_for(ord("f")) == "fullscreen"
    assert action_for(ord("F")) == "fullscreen"
    assert action_for(27) == "quit" and action_for(ord("q")) == "quit"
    assert action_for(ord("]")) == "next_preset" and action_for(ord("[")) == "previous_preset"
    assert action_for(ord("s") | 0x100000) == "snapshot"  # modifier bits from some backends
    assert action_for(-1) is None and action_for(ord("z")) is None
    keys = [k for b in KEYS for k in b.keys]
    assert len(keys) == len(set(keys))
    assert len(help_lines()) == len(KEYS)


def test_keys_call_the_session_and_toggle_the_window(tmp_path: Path) -> None:
    calls: list[str] = []
    recording = [False]

    def toggle() -> bool:
        recording[0] = not recording[0]
        calls.append(f"record:{recording[0]}")
        return recording[0]

    actions = PreviewActions(toggle_record=toggle, next_preset=lambda: calls.append("next"),
                             previous_preset=lambda: calls.append("prev"), quit=lambda: calls.append("quit"),
                             is_recording=lambda: recording[0])
    window = FakeWindow()
    preview = PreviewWindow(24.0, actions=actions, snapshot_dir=tmp_path, window=window)
    for key in "frr]nph":
        preview.handle_key(ord(key))
    assert window.fullscreen == [True] and preview.fullscreen
    assert calls == ["record:True", "record:False", "next", "next", "prev"]
    assert not preview.show_help
    preview.handle_key(27)
    assert preview.quit_requested and calls[-1] == "quit"


def test_missing_actions_and_failing_actions_do_not_break_the_preview(tmp_path: Path) -> None:
    def boom() -> bool:
        raise RuntimeError("disk full")

    preview = PreviewWindow(24.0, actions=PreviewActions(toggle_record=boom), snapshot_dir=tmp_path,
                            window=FakeWindow())
    assert preview.handle_key(ord("r")) == "record"
    assert "record failed: disk full" in preview._status
    preview.handle_key(ord("n"))
    assert "not available" in preview._status
    assert preview.snapshot() is None and "no frame yet" in preview._status


def test_the_paced_loop_shows_bgr_with_overlay_and_snapshots_the_shown_frame(tmp_path: Path) -> None:
    fake = FakeTime()
    window = FakeWindow(keys=[-1, ord("s"), ord("h"), -1])
    preview = PreviewWindow(10.0, snapshot_dir=tmp_path, window=window,
                            actions=PreviewActions(is_recording=lambda: True))
    preview.paced = type(preview.paced)("test-preview", 10.0, preview._show, clock=fake.clock, wait=fake.wait)
    preview.offer(make_frame(3, width=320, height=240))
    preview.paced.run(max_ticks=2)
    preview.offer(make_frame(4, width=320, height=240))
    preview.paced.run(max_ticks=2)
    assert window.opened == ["vj preview"] and len(window.shown) == 4
    last = window.shown[-1]
    assert last.shape == (240, 320, 3)
    # Help off: the bottom-left pixel is the frame itself, in BGR order (B=200, G=100, R=4).
    assert tuple(last[-1, 0]) == (200, 100, 4)
    assert tuple(last[12, 320 - 12]) == (0, 0, 255)  # the red REC dot
    first = window.shown[0]
    assert first[5:40, :].mean() < last[5:40, :].mean()  # help band darkened while help was on
    (path,) = preview.snapshots
    assert read_snapshot_metadata(path)["vj"]["frame"] == 3  # the frame on screen when s was pressed
    preview.close()
    assert window.closed


def test_snapshot_png_keeps_parameters_and_prompt(tmp_path: Path) -> None:
    frame = make_frame(12, width=64, height=48)
    when = dt.datetime(2025, 5, 1, 21, 30, 0)
    path = save_snapshot(frame, tmp_path, now=when)
    again = save_snapshot(frame, tmp_path, now=when)
    assert path.name == "vj-20250501-213000-f000012.png" and again != path
    with Image.open(path) as image:
        assert image.mode == "RGB" and image.size == (64, 48)
        assert image.getpixel((0, 0)) == (12, 100, 200)
    meta = read_snapshot_metadata(path)
    assert meta["prompt"] == "a red fox"
    assert meta["vj"]["params"]["zoom"] == frame.snapshot["zoom"]
    assert meta["vj"]["params"]["sampler"] == "euler_a"
    assert meta["vj"]["prompts"]["entries"] == [["a red fox", 1.0]]


def test_headless_machines_get_a_clear_message() -> None:
    with pytest.raises(DeviceNotConnected, match="needs a display"):
        check_preview_available({}, "Linux")

    class Headless:
        @staticmethod
        def getBuildInformation() -> str:  # noqa: N802 - OpenCV's name
            return "  GUI:                           NONE\n"

    class Gui:
        @staticmethod
        def getBuildInformation() -> str:  # noqa: N802
            return "  GUI:                           GTK3\n"

    with pytest.raises(DeviceNotConnected, match="opencv-python-headless"):
        check_preview_available({"DISPLAY": ":0"}, "Linux", Headless)
    check_preview_available({"DISPLAY": ":0"}, "Linux", Gui)
    check_preview_available({}, "Windows", Gui)


def test_the_installed_headless_opencv_is_detected() -> None:
    import cv2

    if "GUI:                           NONE" not in cv2.getBuildInformation():
        pytest.skip("this environment has a GUI build of OpenCV")
    with pytest.raises(DeviceNotConnected, match="headless"):
        check_preview_available({"DISPLAY": ":0"}, "Linux")
