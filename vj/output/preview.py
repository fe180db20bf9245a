"""Preview window (OpenCV) with performer keys and PNG snapshots that remember their parameters.

Keys (also drawn in the help overlay, toggled with h):

    f        fullscreen on/off          s   snapshot (PNG with parameters and prompt)
    r        record on/off              n / ]   next preset      p / [   previous preset
    h        help overlay on/off        q / Esc quit

The window needs the GUI build of OpenCV (`pip install "vj[preview]"`, which replaces
opencv-python-headless) and a display; `check_preview_available` says which one is
missing. Window calls go through a small `Window` interface so the key handling and the
snapshots are tested without a window. The window runs on its own thread at the output
rate and shows the newest frame; it never slows the render loop.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from vj.errors import DeviceNotConnected
from vj.frames import Frame
from vj.output.pacing import PacedOutput
from vj.prompt_mix import mix_to_json

log = logging.getLogger(__name__)

WINDOW_TITLE = "vj preview"


@dataclass(frozen=True, slots=True)
class KeyBinding:
    keys: tuple[str, ...]
    action: str
    help: str


KEYS: tuple[KeyBinding, ...] = (
    KeyBinding(("f",), "fullscreen", "fullscreen on/off"),
    KeyBinding(("s",), "snapshot", "snapshot PNG (keeps parameters + prompt)"),
    KeyBinding(("r",), "record", "record on/off"),
    KeyBinding(("n", "]"), "next_preset", "next preset"),
    KeyBinding(("p", "["), "previous_preset", "previous preset"),
    KeyBinding(("h",), "help", "help overlay on/off"),
    KeyBinding(("q", "esc"), "quit", "quit"),
)

_ESC = 27


def key_name(code: int) -> str | None:
    """OpenCV's waitKey code -> our key name (None for 'no key' and unknown keys)."""
    if code < 0:
        return None
    code &= 0xFF  # some platforms set high bits (modifiers)
    if code == _ESC:
        return "esc"
    char = chr(code)
    return char.lower() if char.isprintable() else None


def action_for(code: int) -> str | None:
    name = key_name(code)
    for binding in KEYS:
        if name in binding.keys:
            return binding.action
    return None


def help_lines() -> list[str]:
    return [f"{' / '.join(b.keys):>6}  {b.help}" for b in KEYS]


# --------------------------------------------------------------------------- snapshots
def snapshot_metadata(frame: Frame) -> dict[str, str]:
    """PNG text chunks: the frame's parameters and prompts, as text and as JSON."""
    snap = frame.snapshot
    active = [e.text for e in snap.prompts.active()]
    record = {
        "frame": frame.index, "time_s": frame.time_s, "seed": frame.seed,
        "params": dict(snap.values), "prompts": mix_to_json(snap.prompts),
    }
    return {
        "prompt": " | ".join(active),
        "negative_prompt": snap.prompts.negative,
        "vj": json.dumps(record, sort_keys=True),
        "Software": "vj",
    }


def save_snapshot(frame: Frame, directory: str | os.PathLike[str], *, now: _dt.datetime | None = None) -> Path:
    """Write the frame as a PNG whose text chunks hold its parameters and prompt."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    path = folder / f"vj-{stamp}-f{frame.index:06d}.png"
    n = 1
    while path.exists():
        path = folder / f"vj-{stamp}-f{frame.index:06d}-{n}.png"
        n += 1
    info = PngInfo()
    for key, value in snapshot_metadata(frame).items():
        info.add_itxt(key, value)  # iTXt: UTF-8, prompts may hold any language
    Image.fromarray(frame.image, "RGB").save(path, pnginfo=info)
    return path


def read_snapshot_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    with Image.open(path) as image:
        text = dict(image.text)  # type: ignore[attr-defined]
    return {**text, "vj": json.loads(text["vj"])} if "vj" in text else text


# --------------------------------------------------------------------------- availability
def check_preview_available(environ: Mapping[str, str] | None = None, system: str | None = None,
                            cv2_module: Any = None) -> None:
    """Raise DeviceNotConnected saying what is missing: a display, or the GUI build of OpenCV."""
    environ = os.environ if environ is None else environ
    system = system or platform.system()
    if system == "Linux" and not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        raise DeviceNotConnected(
            "--preview needs a display, and this machine has none (DISPLAY and WAYLAND_DISPLAY are unset: "
            "a headless server or an SSH session without -X). Run without --preview and watch the output "
            "through --vcam in OBS, or record with --record.")
    if cv2_module is None:
        try:
            import cv2 as cv2_module
        except ImportError as err:
            raise DeviceNotConnected(
                f"--preview needs OpenCV with GUI support ({err}). "
                "Install it with: pip install \"vj[preview]\"") from err
    info = cv2_module.getBuildInformation()
    gui = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.strip().startswith("GUI:")), "")
    if gui.upper() in ("", "NONE"):
        raise DeviceNotConnected(
            "--preview needs the GUI build of OpenCV, but the installed one is headless (GUI: NONE; this is "
            "opencv-python-headless). Replace it: pip uninstall -y opencv-python-headless && "
            "pip install \"vj[preview]\"  (the two packages share the cv2 module; never install both).")


# --------------------------------------------------------------------------- window
class Window(Protocol):
    def open(self, title: str) -> None: ...
    def show(self, image_bgr: np.ndarray) -> None: ...
    def poll_key(self, wait_ms: int) -> int: ...
    def set_fullscreen(self, on: bool) -> None: ...
    def close(self) -> None: ...


class OpenCvWindow:
    """The real window (GUI build of OpenCV)."""

    def __init__(self) -> None:
        import cv2

        self._cv2 = cv2
        self._title = WINDOW_TITLE

    def open(self, title: str) -> None:
        self._title = title
        self._cv2.namedWindow(title, self._cv2.WINDOW_NORMAL)

    def show(self, image_bgr: np.ndarray) -> None:
        self._cv2.imshow(self._title, image_bgr)

    def poll_key(self, wait_ms: int) -> int:
        return int(self._cv2.waitKey(max(wait_ms, 1)))

    def set_fullscreen(self, on: bool) -> None:
        flag = self._cv2.WINDOW_FULLSCREEN if on else self._cv2.WINDOW_NORMAL
        self._cv2.setWindowProperty(self._title, self._cv2.WND_PROP_FULLSCREEN, flag)

    def close(self) -> None:
        self._cv2.destroyWindow(self._title)


@dataclass(slots=True)
class PreviewActions:
    """What the keys do beyond the window itself; provided by the session (None = not available)."""

    toggle_record: Callable[[], bool] | None = None  # returns True when now recording
    next_preset: Callable[[], object] | None = None
    previous_preset: Callable[[], object] | None = None
    quit: Callable[[], object] | None = None
    is_recording: Callable[[], bool] | None = None


def to_bgr(image_rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image_rgb[..., ::-1])


def draw_overlay(image_bgr: np.ndarray, lines: list[str], *, recording: bool) -> np.ndarray:
    """Help text on a darkened band, and a red REC dot while recording (drawn on a copy)."""
    import cv2

    out = image_bgr.copy()
    height, width = out.shape[:2]
    scale = max(min(width, height) / 900.0, 0.35)
    line_h = max(int(26 * scale), 10)
    if lines:
        band = min(line_h * (len(lines) + 1), height)
        out[:band] = (out[:band] * 0.35).astype(np.uint8)
        for i, text in enumerate(lines):
            cv2.putText(out, text, (8, line_h * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                        cv2.LINE_AA)
    if recording:
        radius = max(line_h // 3, 4)
        cv2.circle(out, (width - 2 * radius - 4, 2 * radius + 4), radius, (0, 0, 255), -1)
    return out


class PreviewWindow:
    """Shows the newest frame at `fps`; keys drive the window and the session's actions."""

    def __init__(self, fps: float, *, actions: PreviewActions | None = None, snapshot_dir: str | os.PathLike[str] = ".",
                 window: Window | None = None, title: str = WINDOW_TITLE) -> None:
        self.actions = actions or PreviewActions()
        self.snapshot_dir = Path(snapshot_dir)
        self.title = title
        self._window = window
        self.fullscreen = False
        self.show_help = True  # shown at start so a performer learns the keys; h hides it
        self.quit_requested = False
        self.snapshots: list[Path] = []
        self.last_frame: Frame | None = None
        self._opened = False
        self._status = ""
        self.paced = PacedOutput("vj-preview", fps, self._show)
        self._lock = threading.Lock()
        self._wait_ms = max(int(500 / fps), 1)

    # session output protocol ----------------------------------------------------------
    def start(self) -> None:
        self.paced.start()

    def offer(self, frame: Frame) -> None:
        self.paced.offer(frame)

    def close(self) -> None:
        self.paced.stop()
        if self._opened and self._window is not None:
            try:
                self._window.close()
            except Exception:
                log.exception("closing the preview window failed")
        self._opened = False

    def status(self) -> str:
        c = self.paced.counters
        return f"preview: shown {c.sent}, repeated {c.repeated}, snapshots {len(self.snapshots)}, errors {c.errors}"

    # drawing (preview thread) ---------------------------------------------------------
    def _ensure_window(self) -> Window:
        if self._window is None:
            self._window = OpenCvWindow()
        if not self._opened:
            self._window.open(self.title)
            self._opened = True
        return self._window

    def render(self, frame: Frame) -> np.ndarray:
        recording = bool(self.actions.is_recording and self.actions.is_recording())
        lines = [*help_lines(), self._status] if self.show_help else ([self._status] if self._status else [])
        return draw_overlay(to_bgr(frame.image), [line for line in lines if line], recording=recording)

    def _show(self, frame: Frame, fresh: bool) -> None:
        window = self._ensure_window()
        self.last_frame = frame
        window.show(self.render(frame))
        self.handle_key(window.poll_key(self._wait_ms))

    # keys ---------------------------------------------------------------------------
    def handle_key(self, code: int) -> str | None:
        """Run the action bound to `code`; returns the action name (None if unbound)."""
        action = action_for(code)
        if action is None:
            return None
        if action == "fullscreen":
            self.fullscreen = not self.fullscreen
            if self._window is not None:
                self._window.set_fullscreen(self.fullscreen)
        elif action == "help":
            self.show_help = not self.show_help
        elif action == "snapshot":
            self.snapshot()
        elif action == "record":
            self._call("record", self.actions.toggle_record)
        elif action == "next_preset":
            self._call("next preset", self.actions.next_preset)
        elif action == "previous_preset":
            self._call("previous preset", self.actions.previous_preset)
        elif action == "quit":
            self.quit_requested = True
            self._call("quit", self.actions.quit)
        return action

    def snapshot(self) -> Path | None:
        frame = self.last_frame
        if frame is None:
            self._status = "snapshot: no frame yet"
            return None
        try:
            path = save_snapshot(frame, self.snapshot_dir)
        except OSError as err:
            self._status = f"snapshot failed: {err}"
            log.error("preview snapshot to %s failed: %s", self.snapshot_dir, err)
            return None
        self.snapshots.append(path)
        self._status = f"saved {path.name}"
        log.info("snapshot saved: %s", path)
        return path

    def _call(self, what: str, fn: Callable[[], object] | None) -> None:
        if fn is None:
            self._status = f"{what}: not available in this session"
            log.warning("preview key: %s is not available in this session", what)
            return
        try:
            result = fn()
        except Exception as err:  # a key must never kill the preview
            self._status = f"{what} failed: {err}"
            log.exception("preview key %s failed", what)
            return
        if what == "record":
            self._status = "recording" if result else "recording stopped"
        else:
            self._status = what

