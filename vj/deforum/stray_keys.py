"""Deforum's reading of a schedule entry with more than one key, such as `0: 0: (1.0+0.02*t)`.

Deforum splits each entry at every colon and keeps the first two parts: the key, then the value; the
rest of the entry is dropped, so `0: 0: (expr)` is frame 0 at the value 0. Shared files carry such
entries (a key pasted twice); vj's own grammar refuses them in a preset, so a settings file is rewritten
to what Deforum renders before it is parsed, with a note naming what was dropped.
"""

from __future__ import annotations

from vj.schedule.expressions import Where
from vj.schedule.keyframes import split_entries


def _top_level_colon(text: str) -> int:
    """Index of the first colon outside brackets and quotes, or -1."""
    depth = 0
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ":" and depth == 0:
            return i
    return -1


def read_stray_keys(text: str, source: str, key: str, notes: list[str]) -> str:
    """The schedule as Deforum reads it: each entry's value ends at its next top-level colon."""
    entries = split_entries(text, Where(source, key, text))
    rewritten: list[str] = []
    dropped: list[str] = []
    for frame, _, value, _ in entries:
        colon = _top_level_colon(value)
        if colon >= 0:
            dropped.append(value[colon:].strip())
            value = value[:colon]
        rewritten.append(f"{frame.strip()}: {value.strip()}")
    if not dropped:
        return text
    result = ", ".join(rewritten)
    notes.append(f"{key}: an entry with more than one key is read as Deforum reads it, the key then the value "
                 f"up to the next colon: {result!r} (dropped: {'; '.join(repr(d) for d in dropped)})")
    return result
