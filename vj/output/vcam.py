"""Virtual camera output (pyvirtualcam): the picture OBS, Zoom or a browser picks up.

It runs at a fixed output rate on its own thread (`PacedOutput`): the newest frame each
tick, the last one again when the engine is slower than the camera, stale frames dropped.
Frames are RGB uint8 and go to pyvirtualcam in `PixelFormat.RGB`; pyvirtualcam converts
to the device's native layout. When frames arrive at a new size the camera is reopened at
that size (a preset switch to another resolution).

No device is never fatal: the error is logged once with what to do on this OS, the show
goes on, and the camera is retried every `retry_s` seconds (someone may load the module
or start OBS mid-show).
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from vj.frames import Frame
from vj.output.pacing import Clock, OpenRetry, PacedOutput, ReportsOpenRetry

log = logging.getLogger(__name__)

VCAM_BACKENDS = ("auto", "v4l2loopback", "obs", "unitycapture")

LINUX_MODPROBE = 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="vj"'

CameraFactory = Callable[..., Any]


def setup_hint(system: str | None = None) -> str:
    """What to do on this OS so a virtual camera exists."""
    system = system or platform.system()
    if system == "Linux":
        return ("no v4l2loopback device. Install v4l2loopback (Debian/Ubuntu: sudo apt install "
                f"v4l2loopback-dkms) and load it with: {LINUX_MODPROBE} ; then pass --vcam-device /dev/videoN "
                "if it is not the first loopback device. exclusive_caps=1 lets Chrome/OBS see it as a camera.")
    if system == "Windows":
        return ("install OBS Studio 26 or newer and start its virtual camera once (Start Virtual Camera, then "
                "Stop), then run vj with --vcam (--vcam-backend obs); or install Unity Capture and use "
                "--vcam-backend unitycapture, which leaves OBS's own virtual camera free.")
    if system == "Darwin":
        return ("install OBS Studio and start its virtual camera once (Start Virtual Camera, then Stop) so the "
                "system extension is installed; pyvirtualcam supports the OBS 26/27 macOS camera "
                "(--vcam-backend obs).")
    return f"no virtual camera backend is known for {system!r}; pyvirtualcam supports Linux, Windows and macOS."


def _default_factory(**kwargs: Any) -> Any:
    import pyvirtualcam

    return pyvirtualcam.Camera(**kwargs)


class VirtualCameraOutput(ReportsOpenRetry):
    """Sends the live picture to a virtual camera at `fps`, holding the last frame."""

    def __init__(self, fps: float, *, backend: str = "auto", device: str | None = None,
                 retry_s: float = 5.0, camera_factory: CameraFactory = _default_factory,
                 clock: Clock = time.monotonic,
                 wait: Callable[[threading.Event, float], object] | None = None) -> None:
        if backend not in VCAM_BACKENDS:
            raise ValueError(f"--vcam-backend: expected one of {', '.join(VCAM_BACKENDS)}, found {backend!r}")
        self.backend = backend
        self.device = device
        self._factory = camera_factory
        self._clock = clock
        self._camera: Any = None
        self._size: tuple[int, int] | None = None
        self._retry = OpenRetry(retry_s, clock)
        self.reopens = 0
        self.delivered = 0  # frames the camera actually took (ticks without a camera are not counted)
        self.paced = PacedOutput("vj-vcam", fps, self._send, clock=clock, wait=wait)

    # FrameSink / session output protocol --------------------------------------------
    def start(self) -> None:
        self.paced.start()

    def offer(self, frame: Frame) -> None:
        self.paced.offer(frame)

    def close(self) -> None:
        self.paced.stop()
        self._close_camera()

    def status(self) -> str:
        c = self.paced.counters
        if self._camera is None and self.last_error:
            return self.unavailable_status("vcam")
        if self._camera is None:
            state = "waiting for a frame"
        else:
            state = f"{self._camera_name()} {self._size[0]}x{self._size[1]}" if self._size else "open"
        return (f"vcam {state} @ {self.paced.fps:g} fps: sent {self.delivered}, repeated {c.repeated}, "
                f"stale dropped {self.paced.mailbox.stale_dropped}, late ticks {c.skipped_ticks}, errors {c.errors}"
                f"{self.paced.mailbox.note()}")

    @property
    def is_open(self) -> bool:
        return self._camera is not None

    # camera handling (runs on the paced thread) --------------------------------------
    def _camera_name(self) -> str:
        try:
            return f"{self._camera.backend}:{self._camera.device}"
        except Exception:
            return "camera"

    def _open(self, width: int, height: int) -> bool:
        if not self._retry.due():
            return False
        kwargs: dict[str, Any] = {"width": width, "height": height, "fps": self.paced.fps}
        if self.backend != "auto":
            kwargs["backend"] = self.backend
        if self.device:
            kwargs["device"] = self.device
        try:
            self._camera = self._factory(**kwargs)
        except Exception as err:  # pyvirtualcam raises RuntimeError, KeyError, ValueError...
            self._camera = None
            if self._retry.failed(err):
                log.error("virtual camera (backend %s%s) could not be opened: %s\nWhat to do: %s\n"
                          "The show goes on without the camera; retrying every %.0f s.",
                          self.backend, f", device {self.device}" if self.device else "", self.last_error,
                          setup_hint(), self.retry_s)
            return False
        self._retry.succeeded()
        self._size = (width, height)
        log.info("virtual camera open: %s, %dx%d @ %g fps", self._camera_name(), width, height, self.paced.fps)
        return True

    def _close_camera(self) -> None:
        if self._camera is not None:
            try:
                self._camera.close()
            except Exception:
                log.exception("closing the virtual camera failed")
            self._camera = None

    def _send(self, frame: Frame, fresh: bool) -> None:
        size = (frame.width, frame.height)
        if self._camera is not None and size != self._size:
            log.info("frame size changed %s -> %s: reopening the virtual camera", self._size, size)
            self._close_camera()
            self.reopens += 1
        if self._camera is None and not self._open(*size):
            return
        image = frame.image
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"virtual camera expects RGB uint8 HxWx3, found {image.dtype} {image.shape}")
        try:
            self._camera.send(np.ascontiguousarray(image))
            self.delivered += 1
        except Exception:
            # A device that vanished mid-show: drop it and retry the open later.
            self._close_camera()
            self._retry.lost()
            raise
