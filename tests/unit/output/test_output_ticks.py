"""Which engine frame each output tick showed: from the recorded ticks, or timed from the frame clock."""

from __future__ import annotations

from pathlib import Path

from vj.output.ticks import output_ticks
from vj.output.timeline import Timeline, TimelineFrame


def _timeline(times: list[float], ots: list[float] | None = None, first_tick: int | None = None,
              last_tick: int | None = None, output_fps: float = 10.0) -> Timeline:
    marks = ots or [None] * len(times)
    frames = tuple(TimelineFrame(i, t, 0.1, "", (), ot) for i, (t, ot) in enumerate(zip(times, marks, strict=True)))
    return Timeline(Path("t.jsonl"), {"fps": 24.0, "output_fps": output_fps}, frames, True,
                    first_tick=first_tick, last_tick=last_tick)


def test_recorded_ticks_repeat_and_skip_frames_as_the_live_take_did() -> None:
    # Frame 0 live from tick 0.2 (first shown at tick 1), frame 1 replaced by frame 2 before tick 4 came.
    ticks = output_ticks(_timeline([0.0, 0.3, 0.35, 0.4], [0.2, 3.5, 3.8, 4.6], first_tick=1, last_tick=9))
    assert ticks.exact and ticks.repeats == {0: 3, 2: 1, 3: 5} and ticks.total == 9
    assert ticks.duration_s == 0.9


def test_a_take_cut_short_ends_at_its_last_frame() -> None:
    ticks = output_ticks(_timeline([0.0, 0.1], [0.1, 2.5]))  # no end line: no first/last tick
    assert ticks.repeats == {0: 2, 1: 1} and ticks.total == 3


def test_without_recorded_ticks_the_frame_clock_times_them() -> None:
    # A 4 fps engine for 1.5 s into a 10 fps output: each frame held 2-3 ticks.
    ticks = output_ticks(_timeline([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]))
    assert not ticks.exact and ticks.total == 16
    assert ticks.repeats == {0: 3, 1: 2, 2: 3, 3: 2, 4: 3, 5: 2, 6: 1}
    fast = output_ticks(_timeline([i / 50 for i in range(50)], output_fps=10.0))  # 50 fps engine: 4 of 5 skipped
    assert fast.total == 10 and sorted(fast.repeats) == list(range(0, 50, 5))
