"""What a schedule does past its last frame: hold the last value or loop from the start.

One policy for value schedules and prompt schedules alike.
"""

from __future__ import annotations

from enum import StrEnum


class ScheduleEnd(StrEnum):
    HOLD = "hold"
    LOOP = "loop"


def parse_end(end: str, what: str) -> ScheduleEnd:
    try:
        return ScheduleEnd(end)
    except ValueError:
        raise ValueError(f"{what}: schedule end must be 'hold' or 'loop', found {end!r}") from None


def table_index(frame: int, length: int, end: ScheduleEnd) -> int:
    """The row of a `length`-frame table that frame `frame` reads (before the start: the first row)."""
    if frame < 0:
        return 0
    if frame >= length:
        return frame % length if end is ScheduleEnd.LOOP else length - 1
    return frame
