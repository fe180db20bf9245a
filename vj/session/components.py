"""What a session composes besides its outputs (vj.output.protocol): controls, which write into the store."""

from __future__ import annotations

from typing import Protocol


class Control(Protocol):
    def start(self) -> None: ...
    def close(self) -> None: ...
    def status(self) -> str: ...
