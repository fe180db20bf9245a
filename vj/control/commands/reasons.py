"""Why an OSC message was ignored: the keys of the rejection counters, shared by parser, router and server.

Store-side reasons (out_of_range, not_finite, unknown_choice, oversized) come from
`ParamSpec.validate` and `ParamStore` with the same spelling.
"""

from __future__ import annotations

from dataclasses import dataclass

MALFORMED = "malformed"
UNKNOWN_ADDRESS = "unknown_address"
WRONG_COUNT = "wrong_count"
WRONG_TYPE = "wrong_type"
NOT_FINITE = "not_finite"
OUT_OF_RANGE = "out_of_range"
OVERSIZED = "oversized"
UNAVAILABLE = "unavailable"  # e.g. /vj/record with no recorder attached
REFUSED = "refused"  # e.g. /vj/preset naming a path, or no preset of that name
ACTION_FAILED = "action_failed"  # the session's preset switch / recorder raised


@dataclass(frozen=True, slots=True)
class Rejection:
    """One ignored message (or a whole datagram, address "<datagram>"), to count and log."""

    address: str
    reason: str
    detail: str
