"""What a remote surface may set on an audio modulator: the fields and their ranges.

One table for the OSC router, the OSCQuery tree and the web page, so the range a client is
shown is the range that is enforced. Depth and offset reach at most the parameter's whole
span (more only pins it at a bound, since the store clamps to the range); the envelope times
stop where a preset's do (vj.config_audio).
"""

from __future__ import annotations

from vj.registry import ParamSpec

ENVELOPE_MS_MAX = 10000.0
FIELDS = ("depth", "offset", "attack_ms", "release_ms")  # what /vj/audio/<param>/<field> changes


def field_range(spec: ParamSpec, name: str) -> tuple[float, float]:
    """The accepted range of one field of an audio modulator on a numeric parameter."""
    if name in ("depth", "offset"):
        span = spec.maximum - spec.minimum
        return (-span, span)
    if name in ("attack_ms", "release_ms"):
        return (0.0, ENVELOPE_MS_MAX)
    raise ValueError(f"audio field: expected one of {', '.join(FIELDS)}, found {name!r}")


def out_of_range(spec: ParamSpec, name: str, value: float) -> str | None:
    """None when `value` is accepted for the field, else what was expected (for the rejection)."""
    lo, hi = field_range(spec, name)
    if lo <= value <= hi:
        return None
    return f"audio {name} on {spec.name}: expected {lo:g}..{hi:g}, found {value:g}"
