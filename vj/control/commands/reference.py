"""The reference-picture command: named pictures from the show's folder, a grab, an upload, or off.

Whatever the transport, a picture is named (a file of the show's `[reference] folder`, by its
name with or without the extension, never a path), grabbed (`input`: the live input's frame,
`output`: the show's own), or uploaded (bytes the session type-checks and size-limits). The
session's hooks (`ShowActions.reference*`) do the encoding off the render thread.
"""

from __future__ import annotations

from collections.abc import Sequence

from vj.control.commands import values
from vj.control.commands.actions import ShowActions
from vj.control.commands.reasons import (
    OUT_OF_RANGE,
    OVERSIZED,
    REFUSED,
    UNAVAILABLE,
    UNKNOWN_CHOICE,
    WRONG_COUNT,
    WRONG_TYPE,
    Rejected,
)

MAX_REFERENCE_NAME = 128
MAX_BLEND = 8  # pictures in one blend (as a preset's [reference] images)
GRAB_SOURCES = ("input", "output")
_NO_IP_ADAPTER = "reference pictures (the show loaded no IP-Adapter: --ip-adapter)"


def picture_name(value: object) -> str:
    """A picture's name in the show's folder: no path, no hidden file, no control characters."""
    if not isinstance(value, str):
        raise Rejected(WRONG_TYPE, f"reference: expected a picture name, found {type(value).__name__}")
    if len(value) > MAX_REFERENCE_NAME:
        raise Rejected(OVERSIZED, f"reference name longer than {MAX_REFERENCE_NAME} characters")
    if (not value or "/" in value or "\\" in value or value.startswith(".") or ":" in value
            or not value.isprintable()):
        raise Rejected(REFUSED, f"reference {value[:80]!r}: a picture's name in the show's reference folder, "
                                "never a path")
    return value


def blend(args: Sequence[object]) -> tuple[tuple[str, float], ...]:
    """NAME [WEIGHT] [NAME [WEIGHT] ...] → (name, weight) pairs (weight 1 where left out)."""
    pairs: list[tuple[str, float]] = []
    for arg in args:
        if isinstance(arg, str):
            pairs.append((picture_name(arg), 1.0))
        elif pairs:
            weight = values.number(arg, "reference weight")
            if weight < 0 or weight > 100:
                raise Rejected(OUT_OF_RANGE, f"reference weight: expected 0..100, found {weight:g}")
            pairs[-1] = (pairs[-1][0], weight)
        else:
            raise Rejected(WRONG_TYPE, "reference: expected NAME [WEIGHT] ..., found a number first")
    if not pairs:
        raise Rejected(WRONG_COUNT, "reference: expected NAME [WEIGHT] ..., 'off', or 'grab input|output'")
    if len(pairs) > MAX_BLEND:
        raise Rejected(OVERSIZED, f"reference: at most {MAX_BLEND} pictures in a blend, found {len(pairs)}")
    if sum(w for _, w in pairs) <= 0:
        raise Rejected(OUT_OF_RANGE, "reference weights: expected a positive sum")
    return tuple(pairs)


class ReferenceCommands:
    """Validates a reference command and calls the session's hook (UNAVAILABLE without an IP-Adapter)."""

    def __init__(self, actions: ShowActions) -> None:
        self.actions = actions

    def names(self, pairs: tuple[tuple[str, float], ...]) -> None:
        hook = self.actions.reference
        if hook is None:
            raise Rejected(UNAVAILABLE, f"{_NO_IP_ADAPTER} are not available in this session")
        hook(pairs)

    def off(self) -> None:
        hook = self.actions.reference
        if hook is None:
            raise Rejected(UNAVAILABLE, f"{_NO_IP_ADAPTER} are not available in this session")
        hook(())

    def grab(self, source: object) -> None:
        if source not in GRAB_SOURCES:
            raise Rejected(UNKNOWN_CHOICE, f"reference grab: expected input or output, found {source!r}"[:200])
        hook = self.actions.reference_grab
        if hook is None:
            raise Rejected(UNAVAILABLE, f"{_NO_IP_ADAPTER} are not available in this session")
        hook(str(source))

    def upload(self, data: bytes) -> None:
        hook = self.actions.reference_upload
        if hook is None:
            raise Rejected(UNAVAILABLE, f"{_NO_IP_ADAPTER} are not available in this session")
        hook(data)

    def from_args(self, args: Sequence[object]) -> None:
        """The positional form (OSC): NAME [WEIGHT] ... | off | grab input|output."""
        if list(args) == ["off"]:
            self.off()
        elif args and args[0] == "grab":
            if len(args) != 2:
                raise Rejected(WRONG_COUNT, "reference grab: expected input or output")
            self.grab(args[1])
        else:
            self.names(blend(args))
