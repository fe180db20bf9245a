"""The real preview window: `vj run --preview` as a child process on a real X server (Xvfb) with the GUI
OpenCV, its pixels read back with `xwd` and compared with the frames the same run recorded."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.integration.x11 import Geometry, missing_x_tools, press_key, screenshot, window_geometry, xvfb
from vj.output.preview import KEY_MESSAGE_S

TITLE = "vj preview"


def _gui_opencv_missing() -> str | None:
    try:
        import cv2
    except ImportError:
        return "OpenCV is not installed"
    if "GUI:                           NONE" in cv2.getBuildInformation():
        return "the installed OpenCV is the headless build (the test extra installs opencv-python)"
    return None


pytestmark = [
    pytest.mark.skipif(bool(missing_x_tools()), reason=f"needs {', '.join(missing_x_tools())} "
                       "(Debian: xvfb x11-utils x11-apps x11-xserver-utils xdotool; .ci/run installs them)"),
    pytest.mark.skipif(_gui_opencv_missing() is not None, reason=str(_gui_opencv_missing())),
]


class VjChild:
    """`python -m vj.cli run …` on a display, with its status lines read as they come."""

    def __init__(self, display: str, cwd: Path, *args: str) -> None:
        env = {**os.environ, "DISPLAY": display, "PYTHONUNBUFFERED": "1"}
        self.log = cwd / "vj-output.txt"
        with self.log.open("w") as out:  # a file, not a pipe: the child can never block on a full pipe
            self.proc = subprocess.Popen([sys.executable, "-m", "vj.cli", "run", *args], cwd=cwd, env=env,
                                         stdout=out, stderr=subprocess.STDOUT)
        self.output = ""

    def read(self) -> str:
        self.output = self.log.read_text(errors="replace")
        return self.output

    def shown(self) -> int:
        counts = re.findall(r"preview: shown (\d+)", self.read())
        return int(counts[-1]) if counts else 0

    def repeated(self) -> int:
        counts = re.findall(r"preview: shown \d+, repeated (\d+)", self.read())
        return int(counts[-1]) if counts else 0

    def frames(self) -> int:
        counts = re.findall(r"frames (\d+)", self.read())
        return int(counts[-1]) if counts else 0

    def wait_for(self, what: str, ready, timeout_s: float = 240.0):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = ready()
            if value:
                return value
            if self.proc.poll() is not None:
                pytest.fail(f"vj exited ({self.proc.returncode}) before {what}:\n{self.read()[-3000:]}")
            time.sleep(0.2)
        self.proc.kill()
        pytest.fail(f"no {what} within {timeout_s:.0f} s:\n{self.read()[-3000:]}")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"vj did not stop on Ctrl-C:\n{self.read()[-3000:]}")
        self.read()
        return code


def _recorded_luma(path: Path) -> list[np.ndarray]:
    """The Y plane of every recorded frame (the recording is yuv420p: only luma keeps every pixel)."""
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="gray").astype(np.float32) for frame in container.decode(video=0)]


def _luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range luma, as swscale converts RGB for the yuv420p recording."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


# OpenCV's Qt window sometimes comes up black and never paints, though it is mapped and takes keys
# (opencv/opencv-python#362): here 1 start in 5 to 1 in 3 on a loaded 2-core machine. The preview's `w`
# key opens a new window, which paints in most such cases; the test presses it as a performer would.
REOPENS = 4


def _reopen_until_painted(vj: VjChild, display: str) -> int:
    """Press `w` while the screen is black; how many times it took. Fails if it stays black."""
    for reopens in range(REOPENS + 1):
        if screenshot(display).std() >= 1:
            return reopens
        if reopens == REOPENS:
            break
        press_key(display, TITLE, "w")
        vj.wait_for("the reopened window", lambda n=reopens: vj.read().count("preview window reopened") > n)
        ticks = vj.shown() + vj.repeated()
        vj.wait_for("frames in the new window", lambda t=ticks: vj.shown() + vj.repeated() >= t + 6)
    vj.interrupt()
    pytest.fail(f"the preview window stayed black after {REOPENS} reopens")


def test_the_preview_window_shows_the_rendered_picture(tmp_path: Path) -> None:
    # The engine renders faster than the 24 fps outputs, and the preview and the recording each pick the
    # newest frame on their own ticks, so a live screenshot may show a frame the recording skipped. A real
    # space key on the window freezes the picture first: both outputs then hold the same frame.
    take = tmp_path / "take.mkv"
    with xvfb(800, 600) as display:
        vj = VjChild(display, tmp_path, "drift", "--model", "tiny", "--width", "64", "--height", "64", "--preview",
                     "--no-preview-help", "--no-osc", "--duration", "900", "--record", str(take),
                     "--record-crf", "0")  # lossless luma
        vj.wait_for("3 engine frames on screen", lambda: vj.frames() >= 3 and vj.shown() >= 3)
        reopens = _reopen_until_painted(vj, display)
        press_key(display, TITLE, "space")
        vj.wait_for("the freeze", lambda: "freeze on" in vj.read())
        time.sleep(KEY_MESSAGE_S)  # until the "freeze on" line has left the picture
        held_from = vj.repeated()
        vj.wait_for("the frozen frame shown again", lambda: vj.repeated() >= held_from + 3)
        geometry = window_geometry(display, TITLE)
        shot = screenshot(display)
        code = vj.interrupt()
    assert code == 0, vj.output[-3000:]
    assert vj.shown() >= 3 and re.search(r"preview: shown \d+, repeated \d+, snapshots 0, errors 0", vj.output)
    assert geometry is not None and (geometry.width, geometry.height) == (256, 256)  # 64 px shown 4x, no bars
    window = shot[geometry.y:geometry.y + geometry.height, geometry.x:geometry.x + geometry.width]
    assert window.std() > 10, "the window is uniform (black or blank), not a picture"
    outside = np.delete(shot, np.s_[geometry.x:geometry.x + geometry.width], axis=1)
    assert outside.std() < 1, "the screenshot holds something besides the window"
    picture = _luma(window[2::4, 2::4])  # one pixel from each 4x4 block: the frame itself
    recorded = _recorded_luma(take)
    errors = [float(np.abs(picture - frame).mean()) for frame in recorded]
    best = min(errors)
    # The colour conversions of Qt/X and of the encoder differ by a few levels; another frame is far off.
    assert best < 6, f"the window matches no recorded frame (closest mean luma error {best:.1f} of 255)"
    matching = [i for i, error in enumerate(errors) if error < best + 1]
    assert len(matching) >= 3 and matching[-1] == len(recorded) - 1, \
        f"the frozen frame should close the take, held for several ticks; it is recorded at {matching}"
    others = sorted({round(error, 3) for error in errors if error >= best + 1})  # repeats counted once
    flat = float(np.abs(picture - picture.mean()).mean())
    assert others and best < 0.3 * others[0] and best < 0.3 * flat, (best, others[:1], flat)
    if reopens:
        warnings.warn(f"the preview window came up black; {reopens} press(es) of w gave a painting one "
                      "(opencv-python#362)", stacklevel=1)


def test_fullscreen_on_a_monitor_covers_it(tmp_path: Path) -> None:
    with xvfb(640, 480) as display:
        vj = VjChild(display, tmp_path, "drift", "--model", "tiny", "--width", "64", "--height", "64",
                     "--preview-fullscreen", "0", "--preview-status", "--no-osc", "--duration", "900")
        vj.wait_for("a frame on screen", lambda: vj.shown() >= 2)
        geometry = vj.wait_for("the fullscreen window", lambda: window_geometry(display, TITLE))
        code = vj.interrupt()
    assert code == 0, vj.output[-3000:]
    assert geometry == Geometry(0, 0, 640, 480)


def test_a_monitor_that_is_not_there_is_one_clear_error_before_the_model_loads(tmp_path: Path) -> None:
    with xvfb(640, 480) as display:
        done = subprocess.run([sys.executable, "-m", "vj.cli", "run", "drift", "--model", "tiny",
                               "--preview-fullscreen", "3"], cwd=tmp_path, capture_output=True, text=True,
                              env={**os.environ, "DISPLAY": display}, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("vj: error: --preview-fullscreen 3: expected one of")
    assert "loading" not in done.stderr and "Traceback" not in done.stderr


def test_a_process_that_imported_av_first_is_told_why_the_window_cannot_open() -> None:
    script = ("import av, sys\n"
              "from vj.errors import DeviceNotConnected\n"
              "from vj.output.preview_gui import check_preview_available\n"
              "try:\n    check_preview_available()\n"
              "except DeviceNotConnected as err:\n    print(err); sys.exit(3)\n")
    with xvfb(320, 240) as display:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "DISPLAY": display})
        fine = subprocess.run([sys.executable, "-c", "import cv2, av\n" + script], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "DISPLAY": display})
    assert done.returncode == 3, done.stdout + done.stderr
    assert "libxcb-shm" in done.stdout and "av.libs" in done.stdout and "Import cv2 before av" in done.stdout
    assert fine.returncode == 0, fine.stdout + fine.stderr
