"""What every output meets: the session starts it, offers it every frame, asks its status, closes it.

`offer` is called on the render side's fan-out and must not block: an output keeps its own
thread behind a bounded queue (vj.frames) and drops or back-pressures there, never in `offer`.
`status` is one line for the console and the web page. A new output is one file in this package
meeting this protocol (see docs/contributing/adding-an-output.md).
"""

from __future__ import annotations

from typing import Protocol

from vj.frames import Frame


class Output(Protocol):
    def start(self) -> None: ...
    def offer(self, frame: Frame) -> None: ...
    def close(self) -> None: ...
    def status(self) -> str: ...
