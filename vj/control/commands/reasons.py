"""Why a live message was ignored: the keys of every rejection counter (OSC, web, MIDI, the store).

One list for every transport, so a counter, a log line and a page's error say the same word for
the same fault. Store-side reasons (out_of_range, not_finite, unknown_choice, oversized) come from
`ParamSpec.validate` and `ParamStore` with the same spelling.
"""

from __future__ import annotations

from dataclasses import dataclass

from vj.errors import ParamRejected

MALFORMED = "malformed"  # not a message at all (bad datagram, not JSON)
UNKNOWN_ADDRESS = "unknown_address"  # OSC: no such address
UNKNOWN_MESSAGE = "unknown_message"  # web: no such message key or field
UNKNOWN_PARAM = "unknown_param"
UNKNOWN_CHOICE = "unknown_choice"
WRONG_COUNT = "wrong_count"
WRONG_TYPE = "wrong_type"
NOT_FINITE = "not_finite"
OUT_OF_RANGE = "out_of_range"
OVERSIZED = "oversized"
UNAVAILABLE = "unavailable"  # e.g. record with no recorder attached
REFUSED = "refused"  # e.g. a preset switch naming a path, or no preset of that name
ACTION_FAILED = "action_failed"  # the session's preset switch / recorder raised
HELD_FULL = "held_full"  # OSC: a future-timetagged bundle while as many as may wait are already waiting
RATE_LIMITED = "rate_limited"  # web: a client sent faster than the page may
STORE_REJECTED = "store_rejected"  # MIDI: the store refused a write the mapping produced


class Rejected(ParamRejected):
    """A command refused: `reason` is the counter key, `detail` what was expected and found."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Rejection:
    """One ignored message (or a whole datagram, address "<datagram>"), to count and log."""

    address: str
    reason: str
    detail: str
