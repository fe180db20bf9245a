"""OSC datagram bytes -> messages, with the limits a hostile sender cannot get past.

Why our own walk instead of python-osc's dispatcher: that path drops malformed datagrams
silently, and a performer needs to see that a patch is sending garbage. Each message is
parsed with python-osc's `OscMessage` after checks it skips (alignment, type tags it cannot
read); bundles are walked here so that a whole bundle, nested ones included, comes back as
one list of messages to apply together. Knows nothing of sockets or the ParamStore.
"""

from __future__ import annotations

from dataclasses import dataclass

from pythonosc import osc_message
from pythonosc.parsing import osc_types

MAX_DATAGRAM = 65_507  # the largest UDP payload over IPv4
MAX_BUNDLE_DEPTH = 8  # bundle levels, the outermost included: a ninth is malformed
MAX_FUTURE_TIMETAG_S = 60.0
# Type tags python-osc parses; anything else would be logged per message by python-osc and skipped.
_KNOWN_TAGS = set("ihfdsbrmtTFN[]")
_BUNDLE_PREFIX = b"#bundle\x00"
NTP_IMMEDIATELY = 0  # what osc_types.get_date returns for timetag 1


class MalformedDatagram(Exception):
    """The datagram is not OSC (or breaks a limit); its text says what was wrong."""


@dataclass(frozen=True, slots=True)
class ParsedDatagram:
    timetag: float  # absolute NTP seconds, or NTP_IMMEDIATELY
    messages: list[osc_message.OscMessage]
    is_bundle: bool


def parse_datagram(data: bytes) -> ParsedDatagram:
    """One UDP payload -> its messages; raises only `MalformedDatagram`."""
    try:
        if len(data) > MAX_DATAGRAM:
            raise MalformedDatagram(f"datagram of {len(data)} bytes (at most {MAX_DATAGRAM})")
        if data.startswith(_BUNDLE_PREFIX):
            timetag, messages = _parse_bundle(data, 0)
            return ParsedDatagram(timetag, messages, is_bundle=True)
        return ParsedDatagram(NTP_IMMEDIATELY, [_parse_message(data)], is_bundle=False)
    except MalformedDatagram:
        raise
    except Exception as err:  # any parser surprise is malformed input, not a crash
        raise MalformedDatagram(f"{type(err).__name__}: {err}") from err


def seconds_until(timetag: float, now_s: float) -> float | None:
    """Seconds until a bundle's timetag (0 = now, or already past); None if absurdly far ahead."""
    if timetag == NTP_IMMEDIATELY:
        return 0.0
    delay = timetag - now_s
    if delay > MAX_FUTURE_TIMETAG_S:
        return None
    return max(0.0, delay)


def _parse_message(data: bytes) -> osc_message.OscMessage:
    if not data.startswith(b"/"):
        raise MalformedDatagram("not an OSC message or bundle")
    if len(data) % 4:  # OSC packets are 4-byte aligned; python-osc would zero-pad a cut-off number
        raise MalformedDatagram(f"length {len(data)} is not a multiple of 4")
    try:
        _, index = osc_types.get_string(data, 0)
        if data[index:]:
            tags, _ = osc_types.get_string(data, index)
            if not tags.startswith(",") or set(tags[1:]) - _KNOWN_TAGS:
                raise MalformedDatagram(f"bad type tag string {tags!r}")
        return osc_message.OscMessage(data)
    except (osc_types.ParseError, osc_message.ParseError) as err:
        raise MalformedDatagram(str(err)) from None


def _parse_bundle(data: bytes, depth: int) -> tuple[float, list[osc_message.OscMessage]]:
    if depth >= MAX_BUNDLE_DEPTH:
        raise MalformedDatagram("bundles nested too deep")
    try:
        timetag, index = osc_types.get_date(data, len(_BUNDLE_PREFIX))
    except osc_types.ParseError as err:
        raise MalformedDatagram(f"bundle timetag: {err}") from None
    messages: list[osc_message.OscMessage] = []
    while index < len(data):
        try:
            size, index = osc_types.get_int(data, index)
        except osc_types.ParseError as err:
            raise MalformedDatagram(f"bundle element size: {err}") from None
        if size <= 0 or size % 4 or index + size > len(data):
            raise MalformedDatagram(f"bundle element size {size} does not fit the datagram")
        element = data[index:index + size]
        index += size
        if element.startswith(_BUNDLE_PREFIX):
            # Nested bundles apply with the outer one: one atomic unit per datagram.
            messages += _parse_bundle(element, depth + 1)[1]
        else:
            messages.append(_parse_message(element))
    return timetag, messages
