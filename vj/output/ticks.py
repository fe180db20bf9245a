"""Which engine frame each output tick of a live take showed: what a replay repeats or skips.

Live, the recorder runs at the output rate (`output_fps` in the timeline header), whatever
the engine's speed: a 2.5 fps engine feeding a 25 fps take shows each frame for about ten
ticks, a 50 fps engine feeding it skips every other frame. A replay that wrote one video
frame per engine frame would be 10x too short or 2x too long. Each frame line of a take carries `ot`, when
the frame went live on the video's tick grid, and the end line the video's first and last
ticks: tick k shows the last frame with `ot` <= k, so a replay writes every frame as many
times as it was live and lasts as long as the take, tick for tick, to lay against the
show's audio. (Which tick first took a frame published within a millisecond of a tick is
down to thread scheduling, live; the count of ticks is exact.)

A timeline without `ot` (written by an older vj) is timed from the frame clock instead:
tick k shows the last frame whose time is at or before k / output_fps. `exact` says which
was used. A take cut short (no end line) ends at its last frame's tick.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from vj.output.timeline import Timeline, TimelineFrame

EPS = 1e-9


@dataclass(frozen=True, slots=True)
class OutputTicks:
    fps: float
    repeats: dict[int, int]  # frame index -> output frames showing it (absent: never shown)
    total: int
    exact: bool  # from the take's tick grid (False: timed from the frame clock)

    @property
    def duration_s(self) -> float:
        return self.total / self.fps


def output_rate(timeline: Timeline) -> float:
    """The take's output rate; a timeline without one was recorded at the preset's fps."""
    return float(timeline.header.get("output_fps") or timeline.header["fps"])


def output_ticks(timeline: Timeline) -> OutputTicks:
    fps = output_rate(timeline)
    frames = timeline.frames
    if not frames:
        return OutputTicks(fps, {}, 0, exact=False)
    recorded = [f.output_tick for f in frames]
    if all(tick is not None for tick in recorded):
        marks = [float(tick) for tick in recorded if tick is not None]
        first = timeline.first_tick if timeline.first_tick is not None else math.ceil(marks[0] - EPS)
        last = timeline.last_tick if timeline.last_tick is not None else max(first, math.ceil(marks[-1] - EPS))
        return _assign(frames, marks, first, last, fps, exact=True)
    start = frames[0].time_s
    marks = [(f.time_s - start) * fps for f in frames]
    return _assign(frames, marks, 0, int(marks[-1] + EPS), fps, exact=False)


def _assign(frames: tuple[TimelineFrame, ...], marks: list[float], first: int, last: int, fps: float, *,
            exact: bool) -> OutputTicks:
    """Tick k (first..last) shows the last frame whose mark is at or before k (the first frame before any)."""
    repeats: dict[int, int] = {}
    for k in range(first, last + 1):
        live = max(bisect.bisect_right(marks, k + EPS) - 1, 0)
        index = frames[live].index
        repeats[index] = repeats.get(index, 0) + 1
    return OutputTicks(fps, repeats, max(last - first + 1, 0), exact)
