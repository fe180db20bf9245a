"""SIGTERM and SIGHUP end a show like Ctrl-C: files finished, summary printed.

`timeout`, systemd and `docker stop` send SIGTERM, and closing the terminal sends SIGHUP;
Python's default for both is to die on the spot, which leaves no timeline `end` line and
no summary. Here they only set an event that the session's main loop watches, so the show
stops between two status polls and closes its outputs the normal way; a second signal
while the files are being finished changes nothing (there is no exception to interrupt
the closing).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)


class SignalStop:
    """Set by the handler; `name` is the first signal received (`SIGTERM`), or ""."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.name = ""

    def handler(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.event.is_set():
            log.warning("%s received while stopping: still finishing the files", name)
            return
        self.name = name
        log.info("%s received: stopping the show", name)
        self.event.set()


def stop_signals() -> tuple[signal.Signals, ...]:
    """SIGTERM everywhere; SIGHUP where the platform has it (not on Windows)."""
    hup = getattr(signal, "SIGHUP", None)
    return (signal.SIGTERM,) if hup is None else (signal.SIGTERM, hup)


@contextmanager
def signals_stop_the_show() -> Iterator[SignalStop]:
    """Within the block SIGTERM/SIGHUP set the yielded event; the old handlers come back after."""
    stop = SignalStop()
    previous = {sig: signal.signal(sig, stop.handler) for sig in stop_signals()}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
