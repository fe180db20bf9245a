"""OSC datagram handling from raw bytes (no socket): property-based fuzzing of the parser and router."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_message_builder import OscMessageBuilder

from vj.control.osc import OscControl
from vj.store import ParamStore

ADDRESSES = ["/vj/zoom", "/vj/angle/norm", "/vj/prompt/1", "/vj/prompt/3/weight", "/vj/seed", "/vj/border",
             "/vj/release", "/vj/nope", "/vj/lfo/zoom", "/vj/preset", "/x"]
# OSC strings end at their first NUL, so a well-formed message's text cannot hold one (the
# builder would emit a datagram that does not parse back); hostile bytes are fuzzed below.
OSC_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
ARGS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-2**31, 2**31 - 1),
                 OSC_TEXT, st.booleans())


def _message(address: str, args: list[object]) -> bytes:
    m = OscMessageBuilder(address)
    for a in args:
        m.add_arg(a)
    return m.build().dgram


def _balanced(osc: OscControl) -> bool:
    c = osc.counters
    return c.messages == c.applied + c.unchanged + c.commands + c.rejected_total() - c.rejected["malformed"]


@settings(max_examples=300, deadline=None)
@given(address=st.sampled_from(ADDRESSES), args=st.lists(ARGS, max_size=4))
def test_any_well_formed_message_is_applied_or_counted(address: str, args: list[object]) -> None:
    osc = OscControl(ParamStore())
    osc.handle_datagram(_message(address, args))
    assert osc.counters.datagrams == 1 and osc.counters.messages == 1
    assert _balanced(osc)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_and_are_counted(data: bytes) -> None:
    osc = OscControl(ParamStore())
    osc.handle_datagram(data)
    assert osc.counters.datagrams == 1
    assert _balanced(osc)
    assert osc.counters.rejected["malformed"] + osc.counters.messages >= 1


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(-16, 4096), min_size=1, max_size=4), tail=st.binary(max_size=64))
def test_hostile_bundles_are_malformed_not_crashes(sizes: list[int], tail: bytes) -> None:
    osc = OscControl(ParamStore())
    data = b"#bundle\x00" + struct.pack(">Q", 1) + b"".join(struct.pack(">i", s) for s in sizes) + tail
    osc.handle_datagram(data)
    assert osc.counters.datagrams == 1 and _balanced(osc)
    assert osc.store.live_overrides() == {}
