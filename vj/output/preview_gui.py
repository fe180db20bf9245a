"""The GUI OpenCV behind the preview window: loading it safely, and the real window.

Why the load order matters: the opencv-python (Qt) and PyAV wheels both bundle X libraries
under the same mangled file names (libxcb-shm-0be6dfbf.so.0.0.0, libxcb-shape-…, libxcb-xfixes-…),
each copy linked against its own libxcb. The dynamic linker maps a file name once, so when `av`
is imported first Qt's XCB plugin gets PyAV's copy, which talks to a different libxcb than Qt's
connection, and `cv2.namedWindow` hangs for ever in `xcb_shm_query_version`. Imported first,
OpenCV's copies win and both libraries work (vj's PyAV never opens X itself). So the CLI loads
OpenCV before anything imports av whenever the preview is asked for, and `load_gui_opencv`
refuses, with the reason, to open a window in a process where the wrong copies are mapped.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vj.errors import DeviceNotConnected
from vj.output.monitors import Monitor

log = logging.getLogger(__name__)

_MAPS = Path("/proc/self/maps")  # platform-guarded: read only when it exists (Linux)


def opencv_bundled_libraries() -> set[str]:
    """File names of the shared libraries the opencv-python wheel bundles (found without importing cv2)."""
    spec = importlib.util.find_spec("cv2")
    if spec is None or spec.origin is None:
        return set()
    site = Path(spec.origin).resolve().parent.parent
    return {p.name for libs in site.glob("opencv_python*.libs") for p in libs.iterdir()}


def conflicting_libraries(mapped_paths: Iterable[str], bundled: set[str], opencv_libs_dirs: set[str]) -> list[str]:
    """Mapped libraries with one of OpenCV's bundled file names that are not OpenCV's own copy."""
    return sorted({path for path in mapped_paths
                   if Path(path).name in bundled and str(Path(path).parent.name) not in opencv_libs_dirs})


def mapped_libraries(maps_text: str) -> list[str]:
    return [line.split(None, 5)[5] for line in maps_text.splitlines() if len(line.split(None, 5)) == 6]


def check_library_order() -> None:
    """Raise DeviceNotConnected when another wheel's copy of an OpenCV-bundled library is already mapped."""
    if not _MAPS.exists():  # not Linux: the wheels do not share libraries by file name there
        return
    bundled = opencv_bundled_libraries()
    if not bundled:
        return
    clashes = conflicting_libraries(mapped_libraries(_MAPS.read_text(errors="replace")), bundled,
                                    {"opencv_python.libs", "opencv_python_headless.libs"})
    if clashes:
        raise DeviceNotConnected(
            "the preview window cannot open in this process: another package's copy of a library OpenCV "
            f"bundles was loaded first ({', '.join(Path(c).name + ' from ' + Path(c).parent.name for c in clashes)}), "
            "and Qt would hang on it. Import cv2 before av (or anything that imports it).")


def load_gui_opencv() -> Any:
    """Import the GUI build of OpenCV, or raise DeviceNotConnected saying what is wrong."""
    check_library_order()
    try:
        import cv2
    except ImportError as err:
        raise DeviceNotConnected(f"--preview needs OpenCV with GUI support ({err}). "
                                 "Install it with: pip install \"vj[preview]\"") from err
    check_gui_build(cv2)
    return cv2


def check_gui_build(cv2_module: Any) -> None:
    info = cv2_module.getBuildInformation()
    gui = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.strip().startswith("GUI:")), "")
    if gui.upper() in ("", "NONE"):
        raise DeviceNotConnected(
            "--preview needs the GUI build of OpenCV, but the installed one is headless (GUI: NONE; this is "
            "opencv-python-headless). Replace it: pip uninstall -y opencv-python-headless && "
            "pip install \"vj[preview]\"  (the two packages share the cv2 module; never install both).")


def check_preview_available(environ: Mapping[str, str] | None = None, system: str | None = None,
                            cv2_module: Any = None) -> None:
    """Raise DeviceNotConnected saying what is missing: a display, or the GUI build of OpenCV.

    Without `cv2_module` this imports the real OpenCV, so call it before anything imports av."""
    environ = os.environ if environ is None else environ
    system = system or platform.system()
    if system == "Linux" and not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        raise DeviceNotConnected(
            "--preview needs a display, and this machine has none (DISPLAY and WAYLAND_DISPLAY are unset: "
            "a headless server or an SSH session without -X). Run without --preview and watch the output "
            "through --vcam in OBS, or record with --record.")
    if cv2_module is None:
        load_gui_opencv()
    else:
        check_gui_build(cv2_module)


class OpenCvWindow:
    """The real window: no Qt toolbar or status bar (WINDOW_GUI_NORMAL), resizable, aspect kept."""

    def __init__(self, cv2_module: Any = None) -> None:
        self._cv2 = cv2_module if cv2_module is not None else load_gui_opencv()
        self._title = ""
        self._size = (0, 0)

    def open(self, title: str, width: int, height: int) -> None:
        cv2 = self._cv2
        self._title, self._size = title, (width, height)
        cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_GUI_NORMAL | cv2.WINDOW_KEEPRATIO)
        cv2.resizeWindow(title, width, height)

    def show(self, image_bgr: np.ndarray) -> None:
        self._cv2.imshow(self._title, image_bgr)

    def poll_key(self, wait_ms: int) -> int:
        return int(self._cv2.waitKey(max(wait_ms, 1)))

    def set_fullscreen(self, on: bool, monitor: Monitor | None) -> None:
        cv2 = self._cv2
        if on and monitor is not None:
            # Onto the chosen monitor first: fullscreen fills the monitor the window stands on; without a
            # window manager (a bare X server) the rectangle itself is the fullscreen.
            cv2.moveWindow(self._title, monitor.x, monitor.y)
            cv2.resizeWindow(self._title, monitor.width, monitor.height)
        cv2.setWindowProperty(self._title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN if on else cv2.WINDOW_NORMAL)
        if not on:
            cv2.resizeWindow(self._title, *self._size)

    def close(self) -> None:
        self._cv2.destroyWindow(self._title)
        self._cv2.waitKey(1)  # let the toolkit unmap it


def prepare_preview(monitor_index: int | None) -> Monitor | None:
    """Before the model loads (and before anything imports PyAV): the preview can open here, on which monitor.

    `monitor_index`: a monitor of `xrandr --listmonitors` for fullscreen (None: where the window opens)."""
    check_preview_available()
    if monitor_index is None:
        return None
    from vj.output.monitors import list_monitors, pick_monitor

    return pick_monitor(list_monitors(), monitor_index)
