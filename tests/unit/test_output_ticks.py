"""Which engine frame each output tick showed: from the recorded ticks, or timed from the frame clock."""

from __future__ import annotations

from pathlib import Path

from vj.output.ticks import output_ticks
from vj.output.timeline import Timeline, TimelineFrame


def _timeline(times: list[float], shown: tuple[tuple[int, int], ...] = (), last_tick: int | None = None,
              output_fps: float = 10.0) -> Timeline:
    frames = tuple(TimelineFrame(i, t, 0.1, "") for i, t in enumerate(times))
    return Timeline(Path("t.jsonl"), {"fps": 24.0, "output_fps": output_fps}, frames, True,
                    shown=shown, last_tick=last_tick)


def test_recorded_ticks_repeat_and_skip_frames_as_the_live_take_did() -> None:
    # Frame 0 first shown at tick 1, frame 1 at 4, frame 2 never (replaced before a tick), frame 3 at 5..9.
    ticks = output_ticks(_timeline([0.0, 0.3, 0.35, 0.4], shown=((0, 1), (1, 4), (3, 5)), last_tick=9))
    assert ticks.exact and ticks.repeats == {0: 3, 1: 1, 3: 5} and ticks.total == 9
    assert ticks.duration_s == 0.9


def test_a_take_cut_short_ends_at_its_last_shown_tick() -> None:
    ticks = output_ticks(_timeline([0.0, 0.1], shown=((0, 0), (1, 3))))
    assert ticks.repeats == {0: 3, 1: 1} and ticks.total == 4


def test_without_recorded_ticks_the_frame_clock_times_them() -> None:
    # A 4 fps engine for 1.5 s into a 10 fps output: each frame held 2-3 ticks.
    ticks = output_ticks(_timeline([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]))
    assert not ticks.exact and ticks.total == 16
    assert ticks.repeats == {0: 3, 1: 2, 2: 3, 3: 2, 4: 3, 5: 2, 6: 1}
    fast = output_ticks(_timeline([i / 50 for i in range(50)], output_fps=10.0))  # 50 fps engine: 4 of 5 skipped
    assert fast.total == 10 and sorted(fast.repeats) == list(range(0, 50, 5))
