"""Small shared test doubles and helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from vj.frames import Frame


def run_vj(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`python -m vj.cli ARGS` in a child process (extra environment variables in `env`)."""
    return subprocess.run([sys.executable, "-m", "vj.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def wait_for(cond: Callable[[], bool], timeout_s: float = 10.0, poll_s: float = 0.005) -> None:
    """Poll `cond` until it holds; AssertionError after `timeout_s` (a bound on failing, never a speed check)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(poll_s)


class CollectFrames:
    """An output that keeps every frame it is offered (session output protocol)."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def start(self) -> None: ...

    def close(self) -> None: ...

    def status(self) -> str:
        return ""

    def offer(self, frame: Frame) -> None:
        self.frames.append(frame)


def wait_in_page(page: Any, expression: str, arg: object = None, timeout_s: float = 10.0) -> None:
    """Poll a JavaScript expression in a Playwright page until it is truthy.

    Playwright's own `wait_for_function` polls by `eval` inside the page once its first try
    fails, which the control page's Content Security Policy (script-src 'self') forbids; an
    `evaluate` from outside is not subject to it.
    """
    wait_for(lambda: bool(page.evaluate(expression, arg)), timeout_s=timeout_s, poll_s=0.05)
