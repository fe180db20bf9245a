"""Logging that cannot flood: at most one line per key per interval (per OSC address, per MIDI port).

A controller that sends garbage 60 times a second must not turn the log into the bottleneck.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class RateLimitedLog:
    """`warning(key, msg, *args)` logs only if `key` has not logged within `interval_s`.

    Suppressed lines are counted and the count is appended to the next line that gets out.
    The key table is bounded: a fuzzer sending random addresses must not grow memory.
    """

    def __init__(self, logger: logging.Logger, interval_s: float = 1.0, max_keys: int = 1024,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._max_keys = max_keys
        self._now = now
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, key: str, msg: str, *args: object) -> bool:
        """Log `msg % args` unless `key` logged recently; returns whether a line was written."""
        now = self._now()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            if len(self._last) >= self._max_keys:
                self._last.clear()
                self._suppressed.clear()
            self._last[key] = now
            skipped = self._suppressed.pop(key, 0)
        if skipped:
            self._logger.warning(msg + " (%d similar suppressed)", *args, skipped)
        else:
            self._logger.warning(msg, *args)
        return True
