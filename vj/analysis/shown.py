"""Which engine frame each video frame of a take shows, from the vj control timeline beside it.

An offline render (`vj render`) writes one video frame per diffused frame. A live take runs at the
output rate whatever the engine's speed, so a slow engine's frame is held on several video frames
and a fast engine's frames may never be shown; the timeline's output ticks say which (see
`vj.output.ticks`). A held frame repeats the previous picture: it cannot flicker, so an analysis
reports the pairs into a newly diffused frame apart from the held ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vj.errors import VjError
from vj.output.ticks import output_ticks
from vj.output.timeline import read_timeline, timeline_path_for


@dataclass(frozen=True, slots=True)
class ShownFrames:
    timeline: Path
    live: bool  # a live take (paced at the output rate); False: an offline render, one video frame per frame
    fps: float  # the video's rate: a frame's time times it is its tick
    engine_frame: tuple[int, ...]  # per tick of the video, from its first: the engine frame it shows
    engine_frames: int  # frame lines in the timeline
    notes: tuple[str, ...] = ()

    def tick_of(self, time_s: float | None, first_time_s: float | None, number: int) -> int:
        """The tick a video frame showed: from its time (a live take's recorder leaves out the ticks it skipped,
        so the frame number alone can be off), from its number when the file gives no times."""
        if time_s is None or first_time_s is None:
            return number
        return round((time_s - first_time_s) * self.fps)

    def engine_frame_at(self, tick: int) -> int | None:
        return self.engine_frame[tick] if 0 <= tick < len(self.engine_frame) else None

    def is_new(self, previous_tick: int, current_tick: int) -> bool | None:
        """Whether the later tick shows another diffused frame than the earlier (None: outside the timeline)."""
        before, after = self.engine_frame_at(previous_tick), self.engine_frame_at(current_tick)
        if before is None or after is None:
            return None
        return after != before

    def counts(self, ticks: tuple[int, ...]) -> tuple[int, int]:
        """(diffused, held) among video frames at these ticks: a held one shows the same frame as the one before."""
        shown = [self.engine_frame_at(tick) for tick in ticks]
        diffused = sum(1 for i, index in enumerate(shown) if index is not None and (i == 0 or index != shown[i - 1]))
        held = sum(1 for i, index in enumerate(shown) if index is not None and i > 0 and index == shown[i - 1])
        return diffused, held

    @property
    def never_shown(self) -> int:
        """Engine frames the take never showed (a live engine faster than the output rate)."""
        return self.engine_frames - len(set(self.engine_frame))


def shown_frames(video: Path) -> ShownFrames | None:
    """The frames shown, from `<video stem>.jsonl`; None when there is none. A timeline that cannot be used is
    reported in `notes`, never an error: the video alone can still be analysed."""
    path = timeline_path_for(video)
    if not path.is_file():
        return None
    try:
        timeline = read_timeline(path)
    except VjError as err:
        return ShownFrames(path, False, 1.0, (), 0, (f"timeline {path.name} is not readable ({err}): not used",))
    named = timeline.header.get("video")
    if named and named != video.name:
        return ShownFrames(path, False, 1.0, (), 0, (f"timeline {path.name} belongs to {named}, not {video.name}: "
                                                "not used",))
    engine_frames = len(timeline.frames)
    rate = timeline.header.get("fps")
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0:
        return ShownFrames(path, False, 1.0, (), 0, (f"timeline {path.name} gives no frame rate (found {rate!r}): "
                                                     "not used",))
    if "output_fps" not in timeline.header:
        return ShownFrames(path, False, float(timeline.header["fps"]), tuple(f.index for f in timeline.frames),
                           engine_frames)
    ticks = output_ticks(timeline)
    sequence: list[int] = []
    for index in sorted(ticks.repeats):
        sequence.extend([index] * ticks.repeats[index])
    notes = () if ticks.exact else (f"timeline {path.name} has no output ticks: held frames timed from the "
                                    "frame clock",)
    return ShownFrames(path, True, ticks.fps, tuple(sequence), engine_frames, notes)
