"""Per-stage times of one frame, measured without making the render thread wait.

On a GPU the host only launches work, so host clocks would time the launches. There each
stage boundary records a CUDA event on the render stream; the times between them are read
once the frame's publish copy has completed (by then every event before it has too), so
reading them never waits. Elsewhere the work runs as it is called and host clocks are the
truth. `sync=True` (benchmarks) synchronises after each stage instead, for wall times.
"""

from __future__ import annotations

import time

import torch


class StageTimer:
    def __init__(self, device: torch.device, *, sync: bool = False) -> None:
        self._cuda = device.type == "cuda"
        self._sync = sync and self._cuda
        self._host_ms: dict[str, float] = {}
        self._t = time.perf_counter()
        self._events: list[tuple[str, torch.cuda.Event]] = []
        if self._cuda and not self._sync:
            start = torch.cuda.Event(enable_timing=True)
            start.record()
            self._events.append(("", start))

    def mark(self, name: str) -> None:
        """The stage `name` ends here (a stage marked twice adds up)."""
        if self._events:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._events.append((name, event))
            return
        if self._sync:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self._host_ms[name] = self._host_ms.get(name, 0.0) + (now - self._t) * 1000
        self._t = now

    def ready(self) -> bool:
        """Whether `stage_ms` can be read without waiting (always, off the GPU)."""
        return not self._events or self._events[-1][1].query()

    def stage_ms(self) -> dict[str, float]:
        """Milliseconds per stage. On a GPU call it only once `ready()` (the publish event implies it)."""
        if not self._events:
            return dict(self._host_ms)
        ms: dict[str, float] = {}
        for (_, before), (name, after) in zip(self._events, self._events[1:], strict=False):
            ms[name] = ms.get(name, 0.0) + before.elapsed_time(after)
        return ms
