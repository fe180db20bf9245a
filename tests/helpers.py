"""Small shared test doubles."""

from __future__ import annotations

from vj.frames import Frame


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
