"""Preview window (OpenCV) with performer keys and PNG snapshots that remember their parameters.

Keys (also drawn in the help overlay, toggled with h):

    f        fullscreen on/off          s   snapshot (PNG with parameters and prompt)
    r        record on/off              n / ]   next preset      p / [   previous preset
    b        blackout on/off            space   freeze on/off    x   panic (recall the preset)
    i        status overlay on/off      h   help overlay on/off      q / Esc quit
    w        reopen the window (OpenCV's Qt window sometimes comes up black and never paints)

The window needs the GUI build of OpenCV (`pip install "vj[preview]"`, which replaces
opencv-python-headless) and a display; `vj.output.preview_gui` says which one is missing and
why OpenCV must be imported before PyAV. Window calls go through a small `Window` interface so
the key handling and the snapshots are tested without a window (and the real window under Xvfb).
The window runs on its own thread at the output rate and shows the newest frame; it never slows
the render loop. What a key did ("freeze on", "saved …png") is written on the picture for
`KEY_MESSAGE_S` seconds and then goes, so a fullscreen preview on a projector is left clean.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from vj.control.commands.catalogue import Command
from vj.control.commands.reasons import UNAVAILABLE, Rejected
from vj.control.commands.show import ShowCommands
from vj.frames import Frame
from vj.output.monitors import Monitor
from vj.output.pacing import PacedOutput
from vj.prompt_mix import mix_to_json

log = logging.getLogger(__name__)

WINDOW_TITLE = "vj preview"
KEY_MESSAGE_S = 3.0  # how long the line saying what a key did stays on the picture


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
    KeyBinding(("b",), "blackout", "blackout on/off (fades)"),
    KeyBinding(("space",), "freeze", "freeze on/off"),
    KeyBinding(("x",), "panic", "panic: recall the preset"),
    KeyBinding(("i",), "status", "status overlay on/off"),
    KeyBinding(("h",), "help", "help overlay on/off"),
    KeyBinding(("w",), "reopen", "reopen the window (if it stays black)"),
    KeyBinding(("q", "esc"), "quit", "quit"),
)

_ESC = 27
_SPACE = 32


def key_name(code: int) -> str | None:
    """OpenCV's waitKey code -> our key name (None for 'no key' and unknown keys)."""
    if code < 0:
        return None
    code &= 0xFF  # some platforms set high bits (modifiers)
    if code == _ESC:
        return "esc"
    if code == _SPACE:
        return "space"
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


# --------------------------------------------------------------------------- window
class Window(Protocol):
    def open(self, title: str, width: int, height: int) -> None: ...
    def show(self, image_bgr: np.ndarray) -> None: ...
    def poll_key(self, wait_ms: int) -> int: ...
    def set_fullscreen(self, on: bool, monitor: Monitor | None) -> None: ...
    def close(self) -> None: ...


# The keys that carry a show command (vj.control.commands); the others act on the window itself.
PREVIEW_COMMANDS: Mapping[str, Command] = {
    "record": Command.RECORD, "next_preset": Command.PRESET_STEP, "previous_preset": Command.PRESET_STEP,
    "blackout": Command.BLACKOUT, "freeze": Command.FREEZE, "panic": Command.PANIC,
    "reopen": Command.REOPEN_PREVIEW,
}


@dataclass(slots=True)
class PreviewActions:
    """What the window needs of the session besides the show commands (None = not available)."""

    quit: Callable[[], object] | None = None
    fps: Callable[[], float] | None = None  # engine frames per second, for the status overlay
    bpm: Callable[[], float] | None = None


def to_bgr(image_rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image_rgb[..., ::-1])


class PreviewWindow:
    """Shows the newest frame at `fps`; keys drive the window and the session's actions."""

    def __init__(self, fps: float, *, commands: ShowCommands | None = None, actions: PreviewActions | None = None,
                 snapshot_dir: str | os.PathLike[str] = ".", window: Window | None = None, title: str = WINDOW_TITLE,
                 fullscreen: bool = False, monitor: Monitor | None = None, show_help: bool = True,
                 show_status: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        """`monitor`: where fullscreen goes (None: the monitor the window opens on)."""
        self.commands = commands
        self.actions = actions or PreviewActions()
        self.snapshot_dir = Path(snapshot_dir)
        self.title = title
        self._window = window
        self.fullscreen = fullscreen
        self.monitor = monitor
        self.show_help = show_help  # on by default so a performer learns the keys; h hides it
        self.show_status = show_status
        self.quit_requested = False
        self.snapshots: list[Path] = []
        self.last_frame: Frame | None = None
        self._opened = False
        self._message = ""  # what the last key did, shown until `_message_until`
        self._message_until = 0.0
        self._clock = clock
        self.paced = PacedOutput("vj-preview", fps, self._show, on_exit=self._close_window)
        self._window_thread: int | None = None
        self._lock = threading.Lock()
        self._wait_ms = max(int(500 / fps), 1)

    # session output protocol ----------------------------------------------------------
    def start(self) -> None:
        if self._window is None:  # load OpenCV here, so a broken install fails the start, not every frame
            from vj.output.preview_gui import OpenCvWindow

            self._window = OpenCvWindow()
        self.paced.start()

    def offer(self, frame: Frame) -> None:
        self.paced.offer(frame)

    def close(self) -> None:
        self.paced.stop()  # the preview thread closes the window as it ends
        self._close_window()  # a window opened on this thread (tests drive the loop directly)

    def _close_window(self) -> None:
        if not self._opened or self._window is None:
            return
        if self._window_thread != threading.get_ident():
            # Qt only lets the thread that made a window close it; from another one it aborts the process.
            log.warning("the preview window was not closed by its own thread; leaving it to the toolkit")
            return
        self._opened = False
        try:
            self._window.close()
        except Exception:
            log.exception("closing the preview window failed")

    def status(self) -> str:
        c = self.paced.counters
        return (f"preview: shown {c.sent}, repeated {c.repeated}, snapshots {len(self.snapshots)}, errors {c.errors}"
                f"{self.paced.mailbox.note()}")

    # drawing (preview thread) ---------------------------------------------------------
    def _ensure_window(self, width: int, height: int) -> Window:
        if self._window is None:
            from vj.output.preview_gui import OpenCvWindow

            self._window = OpenCvWindow()
        if not self._opened:
            self._window.open(self.title, width, height)
            self._opened = True
            self._window_thread = threading.get_ident()
            if self.fullscreen:
                self._window.set_fullscreen(True, self.monitor)
        return self._window

    def render(self, frame: Frame) -> np.ndarray:
        """The picture as shown: BGR, enlarged when small, with the overlays that are on."""
        from vj.output.preview_overlay import display_factor, draw_overlay, enlarge, status_text

        is_recording = self.commands.actions.is_recording if self.commands is not None else None
        recording = bool(is_recording is not None and is_recording())
        message = self.message
        lines = [*help_lines(), message] if self.show_help else [message]
        status = None
        if self.show_status:
            fps = self.actions.fps() if self.actions.fps else None
            bpm = self.actions.bpm() if self.actions.bpm else None
            status = status_text(fps, bpm, recording) or "-"
        height, width = frame.image.shape[:2]
        canvas = enlarge(to_bgr(frame.image), display_factor(width, height))
        return draw_overlay(canvas, [line for line in lines if line], recording=recording, status=status)

    @property
    def message(self) -> str:
        """What the last key did, while it is still shown ("" after `KEY_MESSAGE_S`)."""
        return self._message if self._clock() < self._message_until else ""

    def _say(self, message: str) -> None:
        self._message, self._message_until = message, self._clock() + KEY_MESSAGE_S

    def _show(self, frame: Frame, fresh: bool) -> None:
        self.last_frame = frame
        image = self.render(frame)
        window = self._ensure_window(image.shape[1], image.shape[0])
        window.show(image)
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
                self._window.set_fullscreen(self.fullscreen, self.monitor)
        elif action == "status":
            self.show_status = not self.show_status
        elif action == "help":
            self.show_help = not self.show_help
        elif action == "reopen":
            self.reopen()
        elif action == "snapshot":
            self.snapshot()
        elif action in PREVIEW_COMMANDS:
            self._command(action)
        elif action == "quit":
            self.quit_requested = True
            self._call("quit", self.actions.quit)
        return action

    def reopen(self) -> None:
        """Close the window; the next frame opens a new one (fullscreen again if it was).

        OpenCV's Qt window (opencv/opencv-python#362) sometimes maps black and never paints, though it
        still takes keys; a new window paints in most such cases.
        """
        self._close_window()
        self._opened = False
        self._say("window reopened")
        log.info("preview window reopened")

    def snapshot(self) -> Path | None:
        frame = self.last_frame
        if frame is None:
            self._say("snapshot: no frame yet")
            return None
        try:
            path = save_snapshot(frame, self.snapshot_dir)
        except OSError as err:
            self._say(f"snapshot failed: {err}")
            log.error("preview snapshot to %s failed: %s", self.snapshot_dir, err)
            return None
        self.snapshots.append(path)
        self._say(f"saved {path.name}")
        log.info("snapshot saved: %s", path)
        return path

    def _command(self, action: str) -> None:
        """A key that carries a show command; what it did is written on the picture."""
        c = self.commands
        what = action.replace("_", " ")
        if c is None:
            self._call(what, None)
            return
        run: dict[str, Callable[[], object]] = {
            "record": c.toggle_record, "next_preset": lambda: c.preset_step(1),
            "previous_preset": lambda: c.preset_step(-1), "blackout": lambda: c.blackout(None),
            "freeze": lambda: c.freeze(None), "panic": c.panic,
        }
        self._call(what, run[action])

    def _call(self, what: str, fn: Callable[[], object] | None) -> None:
        if fn is None:
            self._say(f"{what}: not available in this session")
            log.warning("preview key: %s is not available in this session", what)
            return
        try:
            result = fn()
        except Rejected as err:
            self._say(f"{what}: not available in this session" if err.reason == UNAVAILABLE else f"{what}: {err}")
            log.warning("preview key: %s refused: %s", what, err)
            return
        except Exception as err:  # a key must never kill the preview
            self._say(f"{what} failed: {err}")
            log.exception("preview key %s failed", what)
            return
        if what == "record":
            self._say("recording" if result else "recording stopped")
        elif what in ("blackout", "freeze"):
            self._say(f"{what} {'on' if result else 'off'}")
        else:
            self._say(what)
