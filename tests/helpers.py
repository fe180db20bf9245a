"""Small shared test doubles."""

from __future__ import annotations

import os
import subprocess
import sys

from vj.frames import Frame


def run_vj(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`python -m vj.cli ARGS` in a child process (extra environment variables in `env`)."""
    return subprocess.run([sys.executable, "-m", "vj.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


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
