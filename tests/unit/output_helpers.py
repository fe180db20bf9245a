"""Small builders shared by the output tests (frames without an engine, a fake clock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import MappingProxyType

import numpy as np

from vj.frames import Frame
from vj.prompt_mix import PromptEntry, PromptMix
from vj.registry import REGISTRY
from vj.store import ControlEvent, ParamSnapshot


def make_snapshot(index: int = 0, time_s: float = 0.0, dt_s: float = 1 / 24,
                  events: tuple[ControlEvent, ...] = (), prompt: str = "a red fox") -> ParamSnapshot:
    values = {name: spec.default for name, spec in REGISTRY.items()}
    return ParamSnapshot(index, time_s, dt_s, MappingProxyType(values), PromptMix((PromptEntry(prompt, 1.0),)),
                         events)


def make_frame(index: int = 0, width: int = 64, height: int = 48, *, value: int | None = None,
               time_s: float | None = None, events: tuple[ControlEvent, ...] = ()) -> Frame:
    """A frame whose pixels encode its index (R = index, G = 100, B = 200) unless `value` is given."""
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (index if value is None else value) % 256
    image[..., 1] = 100
    image[..., 2] = 200
    t = index / 24 if time_s is None else time_s
    return Frame(index, t, image, make_snapshot(index, t, events=events))


class FakeTime:
    """A clock that only moves when someone waits on it; `on_advance` hooks run as it moves."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now = start_s
        self.hooks: list[Callable[[float], None]] = []

    def clock(self) -> float:
        return self.now

    def wait(self, _event: threading.Event, seconds: float) -> None:
        self.now += seconds
        for hook in self.hooks:
            hook(self.now)
