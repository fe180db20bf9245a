"""The show's one OSC port: `/vj/...` goes to every engine, `/vj/<engine>/...` to that engine as `/vj/...`.

Datagrams are rewritten at the byte level, not parsed and built again: a message's address is
replaced and its type tags and arguments travel untouched, so every type a sender uses
arrives as sent. A bundle keeps its timetag and is split per engine (each gets the messages
addressed to it, or to all). What cannot be routed (not OSC, not under /vj/, a bare
/vj/<engine>) is counted and dropped, as a single engine drops it; the engines themselves
check the values.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass

from vj.control.osc import PREFIX
from vj.errors import DeviceNotConnected

log = logging.getLogger(__name__)

BUNDLE_TAG = b"#bundle\x00"
MAX_DATAGRAM = 65_507
ALL = "*"
Target = tuple[str, int]


class Unroutable(ValueError):
    """A datagram the fan-out cannot route (what was wrong, for the count and the log)."""


def _osc_string(text: str) -> bytes:
    raw = text.encode("utf-8") + b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


def _address_of(message: bytes) -> tuple[str, int]:
    """The address of an OSC message and where its type tags start."""
    end = message.find(b"\x00")
    if not message.startswith(b"/") or end < 0:
        raise Unroutable("not an OSC message")
    return message[:end].decode("utf-8", "replace"), end + 1 + (-(end + 1) % 4)


def route_message(message: bytes, engines: Collection[str]) -> dict[str, bytes]:
    """Engine name (or ALL) -> the message as that engine takes it."""
    address, rest = _address_of(message)
    if not address.startswith(PREFIX):
        raise Unroutable(f"{address!r} is not under {PREFIX}")
    first, _, tail = address[len(PREFIX):].partition("/")
    if first in engines:
        if not tail:
            raise Unroutable(f"{address!r} names an engine but no address of it ({PREFIX}{first}/zoom ...)")
        return {first: _osc_string(PREFIX + tail) + message[rest:]}
    return {ALL: message}


def route_datagram(datagram: bytes, engines: Collection[str]) -> dict[str, bytes]:
    """Engine name -> the datagram it gets (every engine for what is addressed to all)."""
    if not datagram.startswith(BUNDLE_TAG):
        routed = route_message(datagram, engines)
        return {name: routed.get(name, routed.get(ALL, b"")) for name in engines if name in routed or ALL in routed}
    parts = split_bundle(datagram, engines)
    return {name: BUNDLE_TAG + datagram[8:16] + b"".join(struct.pack(">i", len(e)) + e for e in elements)
            for name, elements in parts.items() if elements}


def split_bundle(bundle: bytes, engines: Collection[str]) -> dict[str, list[bytes]]:
    """Each engine's elements of a bundle (nested bundles split the same way, their timetags kept)."""
    if len(bundle) < 16 or not bundle.startswith(BUNDLE_TAG):
        raise Unroutable("a truncated bundle")
    parts: dict[str, list[bytes]] = {name: [] for name in engines}
    at = 16
    while at < len(bundle):
        if at + 4 > len(bundle):
            raise Unroutable("a truncated bundle element")
        (size,) = struct.unpack(">i", bundle[at:at + 4])
        element = bundle[at + 4:at + 4 + size]
        if size <= 0 or size % 4 or len(element) != size:
            raise Unroutable("a bundle element of a bad size")
        at += 4 + size
        for name, routed in route_datagram(element, engines).items():
            parts[name].append(routed)
    return parts


@dataclass
class FanOutCounters:
    datagrams: int = 0
    forwarded: int = 0  # datagrams sent on to engines (one per engine reached)
    rejected: int = 0
    send_errors: int = 0


class OscFanOut:
    """The show's OSC server: one blocking UDP socket on its own thread, forwarding to the engines' ports."""

    def __init__(self, targets: Callable[[], dict[str, Target]], host: str = "127.0.0.1", port: int = 9000) -> None:
        """`targets`: engine name -> (host, OSC port), asked for each datagram (an engine may be restarting)."""
        self.targets = targets
        self.counters = FanOutCounters()
        self.last_rejection = ""
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError as err:
            self._sock.close()
            raise DeviceNotConnected(f"show OSC: cannot listen on udp://{host}:{port}: {err} (is another program "
                                     "using the port? set [show] osc_port)") from err
        self._sock.settimeout(0.2)
        self._out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="vj-show-osc", daemon=True)
        self._thread.start()
        log.info("show OSC on udp://%s:%d: /vj/... to every engine, /vj/<engine>/... to one", self.host, self.port)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self._sock.recv(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                raise
            self.handle(datagram)

    def handle(self, datagram: bytes) -> None:
        self.counters.datagrams += 1
        targets = self.targets()
        try:
            routed = route_datagram(datagram, targets.keys())
        except Unroutable as err:
            self.counters.rejected += 1
            self.last_rejection = str(err)
            log.debug("show OSC: dropped a datagram: %s", err)
            return
        for name, payload in routed.items():
            self.send(targets[name], payload)

    def send(self, target: Target, payload: bytes) -> None:
        try:
            self._out.sendto(payload, target)
            self.counters.forwarded += 1
        except OSError as err:  # an engine's port gone for a moment: UDP loses it, as it would on the wire
            self.counters.send_errors += 1
            log.debug("show OSC: could not send to %s:%d: %s", target[0], target[1], err)

    def status(self) -> str:
        c = self.counters
        return f"osc :{self.port} rx {c.datagrams} fwd {c.forwarded} bad {c.rejected}"

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self._sock.close()
        self._out.close()
