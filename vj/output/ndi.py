"""NDI output (cyndilib): the live picture as an NDI source on the network (OBS, Resolume, vMix...).

Like the virtual camera it runs at a fixed output rate on its own thread (`PacedOutput`):
the newest frame each tick, the last one again when the engine is slower, stale frames
dropped. NDI has no 3-byte RGB format, so RGB frames go out as BGRX (opaque: receivers
get no alpha channel) and RGBA frames as BGRA; the conversion is one copy into a buffer
reused from tick to tick, and a repeated frame is not converted again.

cyndilib fixes a sender's frame size when it opens, so a new frame size (or a switch
between RGB and RGBA) closes the sender and opens a new one under the same name;
receivers reconnect by name on their own (about a second, measured here).

cyndilib is an optional extra (`pip install 'vj[ndi]'`): without it the error is logged
once and the show goes on without NDI. Any other failure to open is retried every
`retry_s` seconds, logged once per distinct message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np

from vj.frames import Frame
from vj.output.paced_sender import PacedSender
from vj.output.pacing import Clock

log = logging.getLogger(__name__)

DEFAULT_SOURCE_NAME = "vj"
INSTALL_HINT = "pip install 'vj[ndi]'"  # cyndilib, whose wheels bundle the NDI runtime
CONNECTIONS_POLL_S = 1.0  # how often the paced thread asks the sender how many receivers it has


@dataclass(frozen=True, slots=True)
class NdiFormat:
    """What the sender is configured for; a frame that needs another one reopens it."""

    width: int
    height: int
    fourcc: str  # "BGRX" for RGB frames, "BGRA" for RGBA frames


class NdiSender(Protocol):
    """The part of an NDI sender the output uses (cyndilib's, or a test's)."""

    source_name: str

    def send(self, pixels: np.ndarray) -> None: ...  # HxWx4 uint8 in the format's byte order

    def connections(self) -> int: ...

    def close(self) -> None: ...


SenderFactory = Callable[[str, NdiFormat, float], NdiSender]


def ndi_format_for(image: np.ndarray) -> NdiFormat:
    """The NDI format for a frame image, or a ValueError naming what was expected."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"NDI output expects RGB or RGBA uint8 HxWx3/4, found {image.dtype} {image.shape}")
    return NdiFormat(int(image.shape[1]), int(image.shape[0]), "BGRX" if image.shape[2] == 3 else "BGRA")


def to_ndi_pixels(image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """RGB(A) uint8 HxWx3/4 -> BGRX/BGRA HxWx4 (bytes B, G, R, X|A in memory), into `out` if it fits."""
    ndi_format_for(image)
    height, width = image.shape[:2]
    if out is None or out.shape != (height, width, 4) or out.dtype != np.uint8:
        out = np.empty((height, width, 4), np.uint8)
    out[..., :3] = image[..., 2::-1]  # R,G,B -> B,G,R
    if image.shape[2] == 4:
        out[..., 3] = image[..., 3]
    else:
        out[..., 3] = 255  # X: NDI ignores it for BGRX, but keep it opaque for receivers that show it
    return out


def ndi_frame_rate(fps: float) -> Fraction:
    """The output rate as the fraction NDI announces: 24 -> 24/1, 29.97 -> 30000/1001, 12.5 -> 25/2."""
    rate = Fraction(fps).limit_denominator(1000)
    ntsc = round(fps * 1.001)
    if rate.denominator != 1 and abs(fps - ntsc * 1000 / 1001) < 0.005:  # the 1000/1001 broadcast rates
        return Fraction(ntsc * 1000, 1001)
    return rate


class CyndilibSender:
    """An NDI sender through cyndilib: opened for one format, closed and replaced for another."""

    def __init__(self, name: str, fmt: NdiFormat, fps: float) -> None:
        import cyndilib  # ImportError here means the optional extra is missing

        frame = cyndilib.VideoSendFrame()
        frame.set_resolution(fmt.width, fmt.height)
        frame.set_fourcc(getattr(cyndilib.FourCC, fmt.fourcc))
        frame.set_frame_rate(ndi_frame_rate(fps))
        # clock_video=False: vj paces the output itself; NDI's own clock would block the send
        # to its announced rate on top of ours.
        self._sender = cyndilib.Sender(name, clock_video=False, clock_audio=False)
        self._sender.set_video_frame(frame)
        # cyndilib 0.1.3's open() tears down the audio frame when libndi refuses to create a
        # sender; without one attached that is a None dereference and the process segfaults.
        # An attached, never-written audio frame sends nothing and turns the refusal into an
        # exception that the retry below handles.
        self._sender.set_audio_frame(cyndilib.AudioSendFrame())
        try:
            self._sender.open()
        except MemoryError:  # what cyndilib raises when NDIlib_send_create returns NULL
            raise RuntimeError(f"libndi could not create a sender named {name!r} ({len(name)} characters)") from None
        self._bytes = fmt.width * fmt.height * 4
        self.source_name = str(self._sender.name)  # "HOST (name)", as receivers list it

    def send(self, pixels: np.ndarray) -> None:
        flat = pixels.reshape(-1)
        if flat.size != self._bytes:
            raise ValueError(f"NDI sender opened for {self._bytes} bytes a frame, found {flat.size}")
        if not self._sender.write_video(flat):
            raise RuntimeError("the NDI sender is not running")

    def connections(self) -> int:
        return int(self._sender.get_num_connections(0.0))

    def close(self) -> None:
        self._sender.close()


def cyndilib_missing_reason() -> str | None:
    """Why cyndilib cannot be used here, or None when it imports."""
    try:
        import cyndilib  # noqa: F401
    except ImportError as err:  # also what a libndi.so that fails to load raises
        return f"{type(err).__name__}: {err}"
    return None


class NdiOutput(PacedSender[NdiSender, NdiFormat]):
    """Sends the live picture as the NDI source `name` at `fps`, holding the last frame."""

    label = "NDI"
    config_word = "format"
    _log = log

    def __init__(self, fps: float, *, name: str = DEFAULT_SOURCE_NAME, retry_s: float = 5.0,
                 sender_factory: SenderFactory | None = None, clock: Clock = time.monotonic,
                 wait: Callable[[threading.Event, float], object] | None = None) -> None:
        if not name.strip():
            raise ValueError("--ndi-name: expected a non-empty NDI source name, found an empty one")
        self.name = name
        self._factory: SenderFactory = sender_factory or CyndilibSender
        self._check_library = sender_factory is None
        self._clock = clock
        self._connections_at: float | None = None
        self.connections = 0
        super().__init__("vj-ndi", fps, retry_s=retry_s, clock=clock, wait=wait)

    def status(self) -> str:
        if self.unavailable:
            return f"ndi off: cyndilib cannot be imported ({INSTALL_HINT})"
        c = self.paced.counters
        if self._closed:
            state = "closed"
        elif self._sender is None and self.last_error:
            return self.unavailable_status("ndi")
        elif self._sender is None:
            state = "waiting for a frame"
        else:
            fmt = self._config
            state = f"{self._sender.source_name!r} {fmt.width}x{fmt.height} {fmt.fourcc}" if fmt else "open"
        return (f"ndi {state} @ {self.paced.fps:g} fps: receivers {self.connections}, sent {self.delivered}, "
                f"repeated {c.repeated}, stale dropped {self.paced.mailbox.stale_dropped}, "
                f"late ticks {c.skipped_ticks}, errors {c.errors}{self.paced.mailbox.note()}")

    @property
    def source_name(self) -> str | None:
        """The name receivers list ("HOST (vj)"), once the sender is open."""
        return self._sender.source_name if self._sender is not None else None

    # PacedSender hooks (the sender ones run on the paced thread) ----------------------
    def _why_unavailable(self) -> str | None:
        return cyndilib_missing_reason() if self._check_library else None

    def _disable_message(self, reason: str) -> None:
        log.error("NDI output is off: cyndilib cannot be imported (%s). To send NDI: %s (cyndilib bundles the NDI "
                  "runtime). "
                  "The show goes on without NDI.", reason, INSTALL_HINT)

    def _import_reason(self, err: ImportError) -> str:
        return f"{type(err).__name__}: {err}"

    def _create(self, config: NdiFormat) -> NdiSender:
        return self._factory(self.name, config, self.paced.fps)

    def _log_open_failure(self, config: NdiFormat) -> None:
        log.error("NDI sender %r (%dx%d %s) could not be opened: %s. The show goes on without NDI; "
                  "retrying every %.0f s.", self.name, config.width, config.height, config.fourcc, self.last_error,
                  self.retry_s)

    def _opened(self, config: NdiFormat) -> None:
        self._connections_at = None
        sender = self._sender
        assert sender is not None
        log.info("NDI source open: %r, %dx%d %s @ %g fps", sender.source_name, config.width, config.height,
                 config.fourcc, self.paced.fps)

    def _config_of(self, frame: Frame) -> NdiFormat:
        return ndi_format_for(frame.image)

    def _convert(self, image: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return to_ndi_pixels(image, out)

    def _after_send(self, sender: NdiSender) -> None:
        now = self._clock()
        if self._connections_at is not None and now - self._connections_at < CONNECTIONS_POLL_S:
            return
        self._connections_at = now
        try:
            self.connections = sender.connections()
        except Exception:
            log.debug("asking the NDI sender for its receivers failed", exc_info=True)
