"""Spout (Windows) and Syphon (macOS) outputs: the live picture as a shared GPU texture.

TouchDesigner, Resolume, MadMapper, VDMX and OBS (with its Spout2 / Syphon client source) pick
the picture up by sender name. Both run like the virtual camera and NDI: at a fixed output rate
on their own thread (`PacedOutput`), the newest frame each tick, the last one again when the
engine is slower. Frames go out as RGBA (opaque); the conversion is one copy into a buffer
reused from tick to tick, and a repeated frame is not converted again. A new frame size (a
preset switch) closes the sender and opens a new one under the same name.

Each is an optional extra for its platform (`pip install 'vj[spout]'` on Windows: SpoutGL;
`pip install 'vj[syphon]'` on macOS 11+: syphon-python). On another platform, or without the
package, the output says so in one line and the show goes on without it; any other failure to
open is retried every `retry_s` seconds, logged once per distinct message.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vj.frames import Frame
from vj.output.paced_sender import PacedSender
from vj.output.pacing import Clock

log = logging.getLogger(__name__)

DEFAULT_SENDER_NAME = "vj"
GL_RGBA = 0x1908  # OpenGL's enum, so SpoutGL needs no PyOpenGL just for one constant


@dataclass(frozen=True, slots=True)
class TextureKind:
    """One texture-sharing route: its name, the platform it runs on and how to install it."""

    name: str  # "Spout" / "Syphon"
    platform: str  # sys.platform value it runs on
    platform_label: str
    install: str


SPOUT = TextureKind("Spout", "win32", "Windows", "pip install 'vj[spout]'")
SYPHON = TextureKind("Syphon", "darwin", "macOS 11 or newer", "pip install 'vj[syphon]'")


class TextureSender(Protocol):
    """What the output needs of a sender (SpoutGL's, syphon-python's, or a test's)."""

    def send(self, rgba: np.ndarray) -> None: ...  # HxWx4 uint8, rows top to bottom

    def close(self) -> None: ...


SenderFactory = Callable[[str, int, int], TextureSender]  # (name, width, height)


def to_rgba(image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """RGB(A) uint8 HxWx3/4 -> RGBA HxWx4 (opaque when there was no alpha), into `out` if it fits."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"texture output expects RGB or RGBA uint8 HxWx3/4, found {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    if out is None or out.shape != (height, width, 4) or out.dtype != np.uint8:
        out = np.empty((height, width, 4), np.uint8)
    out[..., :3] = image[..., :3]
    out[..., 3] = image[..., 3] if image.shape[2] == 4 else 255
    return out


class SpoutGLSender:
    """A Spout sender through SpoutGL (Windows). Unverified: no Windows machine ran it."""

    def __init__(self, name: str, width: int, height: int) -> None:
        import SpoutGL  # ImportError here means the optional extra is missing

        self._name = name
        self._size = (width, height)
        self._sender: Any = SpoutGL.SpoutSender()
        self._sender.setSenderName(name)

    def send(self, rgba: np.ndarray) -> None:
        width, height = self._size
        if not self._sender.sendImage(rgba.tobytes(), width, height, GL_RGBA, False, 0):
            raise RuntimeError("Spout refused the frame (sendImage returned False)")
        self._sender.setFrameSync(self._name)  # receivers that wait for frames wake up now

    def close(self) -> None:
        self._sender.releaseSender()


class SyphonMetalSender:
    """A Syphon server through syphon-python's Metal backend (macOS). Unverified: no Mac ran it."""

    def __init__(self, name: str, width: int, height: int) -> None:
        import syphon  # ImportError here means the optional extra is missing
        from syphon.utils.numpy import copy_image_to_mtl_texture
        from syphon.utils.raw import create_mtl_texture

        self._server: Any = syphon.SyphonMetalServer(name)
        self._texture = create_mtl_texture(self._server.device, width, height)
        self._copy = copy_image_to_mtl_texture

    def send(self, rgba: np.ndarray) -> None:
        self._copy(rgba, self._texture)
        self._server.publish_frame_texture(self._texture)

    def close(self) -> None:
        self._server.stop()


def _package_missing(kind: TextureKind) -> str | None:
    module = "SpoutGL" if kind is SPOUT else "syphon"
    try:
        __import__(module)
    except ImportError as err:
        return f"{type(err).__name__}: {err}"
    return None


class TextureShareOutput(PacedSender[TextureSender, tuple[int, int]]):
    """Shares the live picture as the Spout sender / Syphon server `name` at `fps`, holding the last frame."""

    config_word = "size"
    _log = log

    def __init__(self, kind: TextureKind, fps: float, *, name: str = DEFAULT_SENDER_NAME, retry_s: float = 5.0,
                 sender_factory: SenderFactory | None = None, platform: str | None = None,
                 clock: Clock = time.monotonic, wait: Callable[[threading.Event, float], object] | None = None) -> None:
        if not name.strip():
            raise ValueError(f"--{kind.name.lower()}: expected a non-empty sender name, found an empty one")
        self.kind = kind
        self.label = kind.name
        self.name = name
        self._factory: SenderFactory = sender_factory or (SpoutGLSender if kind is SPOUT else SyphonMetalSender)
        self._check_package = sender_factory is None
        self._platform = platform or sys.platform
        super().__init__(f"vj-{kind.name.lower()}", fps, retry_s=retry_s, clock=clock, wait=wait)

    def status(self) -> str:
        label = self.kind.name.lower()
        if self.unavailable:
            return f"{label} off"
        if self._sender is None and self.last_error:
            return self.unavailable_status(label)
        c = self.paced.counters
        size = f" {self._config[0]}x{self._config[1]}" if self._config and self._sender is not None else ""
        state = "closed" if self._closed else (f"{self.name!r}{size}" if self._sender else "waiting for a frame")
        return (f"{label} {state} @ {self.paced.fps:g} fps: sent {self.delivered}, repeated {c.repeated}, "
                f"errors {c.errors}{self.paced.mailbox.note()}")

    # PacedSender hooks (the sender ones run on the paced thread) ----------------------
    def _why_unavailable(self) -> str | None:
        kind = self.kind
        if self._platform != kind.platform:
            return (f"{kind.name} runs on {kind.platform_label} only, and this is {self._platform}; "
                    f"use --ndi or --vcam here")
        reason = _package_missing(kind) if self._check_package else None
        return f"its package cannot be imported ({reason}); install it with: {kind.install}" if reason else None

    def _disable_message(self, reason: str) -> None:
        log.error("%s output is off: %s. The show goes on without it.", self.kind.name, reason)

    def _import_reason(self, err: ImportError) -> str:
        return f"its package cannot be imported ({err}); install it with: {self.kind.install}"

    def _create(self, config: tuple[int, int]) -> TextureSender:
        return self._factory(self.name, *config)

    def _log_open_failure(self, config: tuple[int, int]) -> None:
        log.error("%s sender %r (%dx%d) could not be opened: %s. The show goes on; retrying every %.0f s.",
                  self.kind.name, self.name, *config, self.last_error, self.retry_s)

    def _opened(self, config: tuple[int, int]) -> None:
        log.info("%s sender open: %r, %dx%d @ %g fps", self.kind.name, self.name, *config, self.paced.fps)

    def _config_of(self, frame: Frame) -> tuple[int, int]:
        return (frame.width, frame.height)

    def _convert(self, image: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return to_rgba(image, out)
