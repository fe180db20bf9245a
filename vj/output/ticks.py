"""Which engine frame each output tick of a live take showed: what a replay repeats or skips.

Live, the recorder runs at the output rate (`output_fps` in the timeline header), whatever
the engine's speed: a 2.5 fps engine feeding a 25 fps take shows each frame for about ten
ticks, a 50 fps engine feeding it skips every other frame. A replay that wrote one video
frame per engine frame would be 10x too short or 2x too long. From the timeline's `shown`
lines (the tick at which each frame was first shown) and the end line's `last_tick`, a
replay writes every frame exactly as many times as the live take showed it, so it lasts
as long as the take, tick for tick, and can be laid against the show's audio.

A timeline without `shown` lines (cut short before its first tick, or written by an older
vj) is timed from the frame clock instead: tick k shows the last frame whose time is at
or before k / output_fps. `exact` says which was used.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from vj.output.timeline import Timeline


@dataclass(frozen=True, slots=True)
class OutputTicks:
    fps: float
    repeats: dict[int, int]  # frame index -> output frames showing it (absent: never shown)
    total: int
    exact: bool  # from the recorded ticks (False: timed from the frame clock)

    @property
    def duration_s(self) -> float:
        return self.total / self.fps


def output_rate(timeline: Timeline) -> float:
    """The take's output rate; a timeline without one was recorded at the preset's fps."""
    return float(timeline.header.get("output_fps") or timeline.header["fps"])


def output_ticks(timeline: Timeline) -> OutputTicks:
    fps = output_rate(timeline)
    known = {f.index for f in timeline.frames}
    shown = sorted((tick, index) for index, tick in timeline.shown if index in known)
    if shown:
        end = max(timeline.last_tick if timeline.last_tick is not None else shown[-1][0], shown[-1][0]) + 1
        repeats: dict[int, int] = {}
        for (tick, index), following in zip(shown, [t for t, _ in shown[1:]] + [end], strict=True):
            repeats[index] = repeats.get(index, 0) + following - tick
        return OutputTicks(fps, repeats, end - shown[0][0], exact=True)
    return _timed(timeline, fps)


def _timed(timeline: Timeline, fps: float) -> OutputTicks:
    frames = timeline.frames
    if not frames:
        return OutputTicks(fps, {}, 0, exact=False)
    start = frames[0].time_s
    offsets = [f.time_s - start for f in frames]
    total = int((offsets[-1] + 1e-9) * fps) + 1
    repeats: dict[int, int] = {}
    for k in range(total):
        live = bisect.bisect_right(offsets, k / fps + 1e-9) - 1
        index = frames[live].index
        repeats[index] = repeats.get(index, 0) + 1
    return OutputTicks(fps, repeats, total, exact=False)
