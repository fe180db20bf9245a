"""The part NDI and Spout / Syphon share: one sender fed at a fixed rate by `PacedOutput`.

Each tick the newest frame (or the last one again) goes to the sender. A frame that needs
another sender configuration (`_config_of`: NDI's format, a texture's size) closes the sender
and opens a new one under the same name; a failed open is retried every `retry_s` (logged once
per distinct message), a missing package turns the output off for the show. The conversion
into the sender's pixel layout reuses one buffer and is skipped for a repeated frame.
Subclasses say how to make a sender, convert a frame and word their log lines.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import numpy as np

from vj.frames import Frame
from vj.output.pacing import Clock, OpenRetry, PacedOutput, ReportsOpenRetry


class ClosableSender(Protocol):
    def send(self, pixels: np.ndarray) -> None: ...

    def close(self) -> None: ...


S = TypeVar("S", bound=ClosableSender)
C = TypeVar("C")  # what a sender is opened for; a frame that needs another one reopens it


class PacedSender(ReportsOpenRetry, ABC, Generic[S, C]):
    """A paced output through one sender; `start`, `offer`, `close` as every session output."""

    label: str  # "NDI", "Spout": how the log lines name the output
    config_word: str  # "format", "size": what changed when a frame reopens the sender
    _log: logging.Logger  # the subclass's module logger, so log settings by module keep working

    def __init__(self, thread_name: str, fps: float, *, retry_s: float, clock: Clock,
                 wait: Callable[[threading.Event, float], object] | None) -> None:
        self._retry = OpenRetry(retry_s, clock)
        self._sender: S | None = None
        self._config: C | None = None  # what the open sender was opened for
        self._pixels: np.ndarray | None = None
        self._pixels_of: Frame | None = None  # the frame `_pixels` holds, so a repeat is not converted again
        self.unavailable = ""  # why the output is off for the rest of the show (platform, package)
        self.reopens = 0
        self.delivered = 0
        self._closed = False
        self.paced = PacedOutput(thread_name, fps, self._send, clock=clock, wait=wait)

    # what a subclass says ----------------------------------------------------------------
    @abstractmethod
    def _why_unavailable(self) -> str | None:
        """Why the output cannot run at all here (checked at start), or None."""

    @abstractmethod
    def _disable_message(self, reason: str) -> None:
        """Log, once, that the output is off for the show and why."""

    @abstractmethod
    def _import_reason(self, err: ImportError) -> str:
        """The `unavailable` reason when opening the sender finds its package missing."""

    @abstractmethod
    def _create(self, config: C) -> S:
        """A new sender for `config`; ImportError when its package is missing."""

    @abstractmethod
    def _log_open_failure(self, config: C) -> None:
        """Log a failed open (only called when its message is news), with `last_error` and `retry_s`."""

    @abstractmethod
    def _opened(self, config: C) -> None:
        """Called once a sender is open for `config` (logs it)."""

    @abstractmethod
    def _config_of(self, frame: Frame) -> C:
        """What a sender must be opened for to take this frame (ValueError for a frame it cannot take)."""

    @abstractmethod
    def _convert(self, image: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """The frame image in the sender's pixel layout, into `out` when it fits."""

    def _after_send(self, sender: S) -> None:
        """Called on the paced thread after each frame the sender took."""

    # session output protocol -------------------------------------------------------------
    def start(self) -> None:
        reason = self._why_unavailable()
        if reason:
            self._disable(reason)
            return
        self.paced.start()

    def offer(self, frame: Frame) -> None:
        if not self.unavailable:
            self.paced.offer(frame)

    def close(self) -> None:
        self.paced.stop()
        self._close_sender()
        self._closed = True

    @property
    def is_open(self) -> bool:
        return self._sender is not None

    # sender handling (runs on the paced thread) ------------------------------------------
    def _disable(self, reason: str) -> None:
        self.unavailable = reason
        self._disable_message(reason)

    def _open(self, config: C) -> bool:
        if not self._retry.due():
            return False
        try:
            self._sender = self._create(config)
        except ImportError as err:
            self._disable(self._import_reason(err))
            return False
        except Exception as err:
            self._sender = None
            if self._retry.failed(err):
                self._log_open_failure(config)
            return False
        self._retry.succeeded()
        self._config = config
        self._opened(config)
        return True

    def _close_sender(self) -> None:
        if self._sender is not None:
            try:
                self._sender.close()
            except Exception:
                self._log.exception("closing the %s sender failed", self.label)
            self._sender = None

    def _send(self, frame: Frame, fresh: bool) -> None:
        if self.unavailable:
            return
        config = self._config_of(frame)
        if self._sender is not None and config != self._config:
            self._log.info("%s frame %s changed %s -> %s: reopening the sender", self.label, self.config_word,
                           self._config, config)
            self._close_sender()
            self.reopens += 1
        if self._sender is None and not self._open(config):
            return
        sender = self._sender
        assert sender is not None  # _open succeeded
        if frame is not self._pixels_of or self._pixels is None:
            self._pixels = self._convert(frame.image, self._pixels)
            self._pixels_of = frame
        try:
            sender.send(self._pixels)
        except Exception:
            self._close_sender()  # a fresh sender after retry_s; PacedOutput counts the error
            self._retry.lost()
            raise
        self.delivered += 1
        self._after_send(sender)
