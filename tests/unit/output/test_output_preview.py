"""Preview key handling, overlay and PNG snapshots, tested without a window."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.unit.output_helpers import FakeTime, make_frame
from vj.control.commands import ShowActions, ShowCommands
from vj.errors import DeviceNotConnected
from vj.output.monitors import Monitor
from vj.output.preview import (
    KEY_MESSAGE_S,
    KEYS,
    PreviewActions,
    PreviewWindow,
    action_for,
    help_lines,
    read_snapshot_metadata,
    save_snapshot,
)
from vj.output.preview_gui import check_preview_available
from vj.store import ParamStore


class FakeWindow:
    def __init__(self, keys: list[int] | None = None) -> None:
        self.keys = list(keys or [])
        self.shown: list[np.ndarray] = []
        self.fullscreen: list[bool] = []
        self.monitors: list[Monitor | None] = []
        self.opened: list[str] = []
        self.sizes: list[tuple[int, int]] = []
        self.closed = False

    def open(self, title: str, width: int, height: int) -> None:
        self.opened.append(title)
        self.sizes.append((width, height))

    def show(self, image_bgr: np.ndarray) -> None:
        self.shown.append(image_bgr)

    def poll_key(self, wait_ms: int) -> int:
        return self.keys.pop(0) if self.keys else -1

    def set_fullscreen(self, on: bool, monitor: Monitor | None) -> None:
        self.fullscreen.append(on)
        self.monitors.append(monitor)

    def close(self) -> None:
        self.closed = True



def commands(actions: ShowActions) -> ShowCommands:
    """The show commands the keys reach, over a store of their own."""
    return ShowCommands(ParamStore(), actions, "preview")

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

    def record(on: bool) -> None:
        recording[0] = on
        calls.append(f"record:{recording[0]}")

    show = ShowActions(record=record, is_recording=lambda: recording[0],
                       preset_step=lambda d: calls.append("next" if d > 0 else "prev"))
    window = FakeWindow()
    preview = PreviewWindow(24.0, commands=commands(show), actions=PreviewActions(quit=lambda: calls.append("quit")),
                            snapshot_dir=tmp_path, window=window)
    for key in "frr]nph":
        preview.handle_key(ord(key))
    assert window.fullscreen == [True] and preview.fullscreen
    assert calls == ["record:True", "record:False", "next", "next", "prev"]
    assert not preview.show_help
    preview.handle_key(27)
    assert preview.quit_requested and calls[-1] == "quit"


def test_missing_actions_and_failing_actions_do_not_break_the_preview(tmp_path: Path) -> None:
    def boom(on: bool) -> bool:
        raise RuntimeError("disk full")

    preview = PreviewWindow(24.0, commands=commands(ShowActions(record=boom)), snapshot_dir=tmp_path,
                            window=FakeWindow())
    assert preview.handle_key(ord("r")) == "record"
    assert "record failed: disk full" in preview.message
    preview.handle_key(ord("n"))
    assert "not available" in preview.message
    assert preview.snapshot() is None and "no frame yet" in preview.message


def test_the_paced_loop_shows_bgr_with_overlay_and_snapshots_the_shown_frame(tmp_path: Path) -> None:
    fake = FakeTime()
    window = FakeWindow(keys=[-1, ord("s"), ord("h"), -1])
    preview = PreviewWindow(10.0, snapshot_dir=tmp_path, window=window,
                            commands=commands(ShowActions(is_recording=lambda: True)))
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


# --------------------------------------------------------------------------- overlays, fullscreen
@pytest.mark.parametrize(("width", "height"), [(64, 64), (96, 64), (256, 256), (512, 512), (1920, 1080), (200, 900)])
@pytest.mark.parametrize("with_status", [False, True])
def test_the_help_overlay_fits_the_window(width: int, height: int, with_status: bool) -> None:
    import cv2

    from vj.output.preview_overlay import FONT, fit_text

    lines = [*help_lines(), "saved vj-20250501-213000-f000012.png"]
    block = fit_text(lines, width, height)
    assert block.height <= height
    for y, text in zip(block.baselines, lines, strict=True):
        (w, h), base = cv2.getTextSize(text, FONT, block.scale, 1)
        assert 6 + w <= width, f"{text!r} is wider than the {width} px window"
        assert y - h >= 0 and y + base <= height
    assert list(block.baselines) == sorted(block.baselines) and len(set(block.baselines)) == len(lines)
    status = fit_text(["24.0 fps  120.0 bpm  REC"], width, height, bottom=True)
    assert status.baselines[0] < height and status.height < height / 2 + 12


def test_small_frames_are_enlarged_for_the_window_and_keep_their_pixels() -> None:
    from vj.output.preview_overlay import display_factor, enlarge

    assert display_factor(64, 64) == 4 and display_factor(512, 512) == 1 and display_factor(320, 240) == 1
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    big = enlarge(image, 4)
    assert big.shape == (8, 12, 3) and (big[1::4, 2::4] == image).all()


def test_status_overlay_shows_fps_bpm_and_rec_toggled_by_i_and_the_flag(tmp_path: Path) -> None:
    actions = PreviewActions(fps=lambda: 23.96, bpm=lambda: 128.0)
    recording = commands(ShowActions(is_recording=lambda: True))
    preview = PreviewWindow(24.0, actions=actions, commands=recording, snapshot_dir=tmp_path, window=FakeWindow(),
                            show_help=False)
    frame = make_frame(3, width=320, height=240)
    plain = preview.render(frame)
    assert preview.handle_key(ord("i")) == "status" and preview.show_status
    with_status = preview.render(frame)
    bottom = slice(240 - 30, 240)
    assert with_status[bottom].mean() < plain[bottom].mean()  # the darkened status band
    assert (with_status[-30:] != plain[-30:]).any() and (with_status[:150] == plain[:150]).all()
    preview.handle_key(ord("i"))
    assert not preview.show_status and (preview.render(frame) == plain).all()
    started_on = PreviewWindow(24.0, actions=actions, commands=recording, window=FakeWindow(), show_help=False,
                               show_status=True)
    assert (started_on.render(frame) == with_status).all()

    from vj.output.preview_overlay import status_text

    assert status_text(23.96, 128.0, True) == "24.0 fps  128.0 bpm  REC"
    assert status_text(None, 120.0, False) == "120.0 bpm"


def test_fullscreen_at_start_goes_to_the_chosen_monitor_after_the_window_opens(tmp_path: Path) -> None:
    fake = FakeTime()
    window = FakeWindow(keys=[ord("f"), ord("f")])
    projector = Monitor(1, "HDMI-1", 1920, 0, 1280, 720)
    preview = PreviewWindow(10.0, snapshot_dir=tmp_path, window=window, fullscreen=True, monitor=projector)
    preview.paced = type(preview.paced)("test-preview", 10.0, preview._show, clock=fake.clock, wait=fake.wait)
    preview.offer(make_frame(1, width=64, height=64))
    preview.paced.run(max_ticks=2)
    assert window.sizes == [(256, 256)]  # a 64 px frame is shown 4x
    assert window.fullscreen == [True, False, True] and window.monitors == [projector] * 3
    assert window.shown[0].shape == (256, 256, 3)


def test_the_window_closes_on_the_thread_that_opened_it(tmp_path: Path) -> None:
    import threading

    closed_on: list[int] = []

    class ThreadWindow(FakeWindow):
        def close(self) -> None:
            closed_on.append(threading.get_ident())

    preview = PreviewWindow(50.0, snapshot_dir=tmp_path, window=ThreadWindow())
    preview.start()
    preview.offer(make_frame(1, width=64, height=64))
    for _ in range(200):
        if preview.paced.counters.sent:
            break
        threading.Event().wait(0.01)
    preview.close()
    assert preview.paced.counters.sent >= 1
    assert len(closed_on) == 1 and closed_on[0] != threading.get_ident()


def test_a_bundled_library_mapped_from_another_wheel_is_found() -> None:
    from vj.output.preview_gui import conflicting_libraries, mapped_libraries

    maps = (
        "7f00-7f01 r-xp 00000000 08:01 1 /venv/site-packages/av.libs/libxcb-shm-0be6dfbf.so.0.0.0\n"
        "7f02-7f03 r-xp 00000000 08:01 2 /venv/site-packages/opencv_python.libs/libxcb-shape-7716c890.so.0.0.0\n"
        "7f04-7f05 rw-p 00000000 00:00 0 \n"
        "7f06-7f07 r-xp 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/libxcb.so.1.1.0\n"
    )
    paths = mapped_libraries(maps)
    assert len(paths) == 3
    bundled = {"libxcb-shm-0be6dfbf.so.0.0.0", "libxcb-shape-7716c890.so.0.0.0"}
    opencv_dirs = {"opencv_python.libs"}
    assert conflicting_libraries(paths, bundled, opencv_dirs) == [
        "/venv/site-packages/av.libs/libxcb-shm-0be6dfbf.so.0.0.0"]
    assert conflicting_libraries(paths[1:], bundled, opencv_dirs) == []


def test_preview_without_a_display_is_one_clear_error_before_the_model_loads() -> None:
    from tests.helpers import run_vj

    done = run_vj("run", "drift", "--model", "tiny", "--preview", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip().splitlines()[0]]
    assert done.stderr.startswith("vj: error: --preview needs a display")
    bad = run_vj("run", "drift", "--preview-fullscreen", "-1")
    assert bad.returncode == 2 and "expected a monitor number >= 0" in bad.stderr


def test_performer_keys_blackout_freeze_and_panic(tmp_path: Path) -> None:
    state = {"blackout": False, "freeze": False, "panics": 0}

    def toggle(name: str) -> bool:
        state[name] = not state[name]
        return bool(state[name])

    def panic() -> None:
        state["panics"] += 1

    preview = PreviewWindow(24.0, snapshot_dir=tmp_path, window=FakeWindow(),
                            commands=commands(ShowActions(blackout=lambda on: toggle("blackout"),
                                                          freeze=lambda on: toggle("freeze"), panic=panic)))
    assert preview.handle_key(ord("b")) == "blackout" and state["blackout"] and preview.message == "blackout on"
    assert preview.handle_key(ord(" ")) == "freeze" and state["freeze"] and preview.message == "freeze on"
    assert preview.handle_key(ord("B")) == "blackout" and not state["blackout"] and preview.message == "blackout off"
    assert preview.handle_key(ord("x")) == "panic" and state["panics"] == 1
    assert any("blackout" in line for line in help_lines()) and any("space" in line for line in help_lines())


def test_what_a_key_did_is_written_on_the_picture_and_then_goes() -> None:
    # A fullscreen preview can be the projector's feed: a "freeze on" that stayed would be on stage all night.
    fake = FakeTime()
    preview = PreviewWindow(24.0, window=FakeWindow(), show_help=False, clock=fake.clock,
                            commands=commands(ShowActions(freeze=lambda on: True)))
    frame = make_frame(3, width=320, height=240)
    plain = preview.render(frame)
    preview.handle_key(ord(" "))
    assert preview.message == "freeze on" and (preview.render(frame) != plain).any()
    fake.now += KEY_MESSAGE_S - 0.1
    assert (preview.render(frame) != plain).any()
    fake.now += 0.2
    assert preview.message == "" and (preview.render(frame) == plain).all()


def test_w_reopens_the_window_fullscreen_again_if_it_was() -> None:
    window = FakeWindow()
    preview = PreviewWindow(24.0, window=window, show_help=False, fullscreen=True)
    frame = make_frame(3, width=64, height=64)
    preview._show(frame, True)
    assert window.opened == ["vj preview"] and window.fullscreen == [True]
    assert preview.handle_key(ord("w")) == "reopen" and window.closed and preview.message == "window reopened"
    preview._show(frame, False)  # the next tick, a repeated frame too, opens the new window
    assert window.opened == ["vj preview", "vj preview"] and window.fullscreen == [True, True]
    assert window.sizes == [(256, 256), (256, 256)]
