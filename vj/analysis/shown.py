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
    engine_frame: tuple[int, ...]  # per video frame, from 0: the engine frame it shows
    engine_frames: int  # frame lines in the timeline
    notes: tuple[str, ...] = ()

    def is_new(self, previous: int, current: int) -> bool | None:
        """Whether video frame `current` shows another diffused frame than `previous` (None: past the timeline)."""
        if current >= len(self.engine_frame):
            return None
        return self.engine_frame[current] != self.engine_frame[previous]

    def counts(self, video_frames: int) -> tuple[int, int]:
        """(diffused, held) among the first `video_frames` video frames: a held one repeats the frame before."""
        shown = self.engine_frame[:video_frames]
        diffused = sum(1 for i, index in enumerate(shown) if i == 0 or index != shown[i - 1])
        return diffused, len(shown) - diffused

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
        return ShownFrames(path, False, (), 0, (f"timeline {path.name} is not readable ({err}): not used",))
    named = timeline.header.get("video")
    if named and named != video.name:
        return ShownFrames(path, False, (), 0, (f"timeline {path.name} belongs to {named}, not {video.name}: "
                                                "not used",))
    engine_frames = len(timeline.frames)
    if "output_fps" not in timeline.header:
        return ShownFrames(path, False, tuple(f.index for f in timeline.frames), engine_frames)
    ticks = output_ticks(timeline)
    sequence: list[int] = []
    for index in sorted(ticks.repeats):
        sequence.extend([index] * ticks.repeats[index])
    notes = () if ticks.exact else (f"timeline {path.name} has no output ticks: held frames timed from the "
                                    "frame clock",)
    return ShownFrames(path, True, tuple(sequence), engine_frames, notes)
