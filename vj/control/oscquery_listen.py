"""OSCQuery LISTEN / IGNORE: value changes pushed over a WebSocket on the OSCQuery HTTP port.

A client (Chataigne, ossia score, TouchDesigner's OSCQuery components) upgrades a GET on the
HTTP port to a WebSocket, then sends JSON text such as {"COMMAND": "LISTEN", "DATA": "/vj/zoom"}
(IGNORE stops it). The server answers with OSC packets in binary frames, each the node's
address with its VALUE as arguments: the current value at once, then every change, polled at
`rate_hz` on the connection's own thread (the HTTP server's request thread), so no write into
the store ever waits for a listener. The tree they read is built once per tick for all of them
(`SharedTree`), and at most `MAX_LISTENERS` listen at once.

The WebSocket runs on websockets' sans-I/O protocol over the socket the HTTP request came on,
so the stdlib HTTP server keeps answering plain GETs exactly as before.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.datastructures import Headers
from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

log = logging.getLogger(__name__)

ACCESS_READABLE = (1, 3)
MAX_LISTENS = 1024  # paths one connection may listen to
MAX_LISTENERS = 16  # LISTEN connections at once; one more is answered 503 and counted
MAX_MESSAGE_BYTES = 64 * 1024
PUSH_HZ = 30.0  # how often listeners are sent what changed
_OSC_TYPES = {"f": "f", "i": "i", "s": "s", "h": "h", "d": "d", "T": "T", "F": "F"}


def is_upgrade(upgrade_header: str | None) -> bool:
    return "websocket" in (upgrade_header or "").lower()


def osc_packet(path: str, node: Mapping[str, Any]) -> bytes | None:
    """The OSC message for a node's VALUE (typed by its TYPE), or None when it has no readable value."""
    value = node.get("VALUE")
    type_tags = str(node.get("TYPE", ""))
    if not isinstance(value, list) or len(value) != len(type_tags):
        return None
    builder = OscMessageBuilder(address=path)
    for tag, arg in zip(type_tags, value, strict=True):
        if tag not in _OSC_TYPES:
            return None
        builder.add_arg(float(arg) if tag == "f" else int(arg) if tag == "i" else arg, _OSC_TYPES[tag])
    return builder.build().dgram


def lookup(tree: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The node at an OSC path ("/vj/zoom") in an OSCQuery tree, or None when no node is there."""
    node = tree
    for part in [p for p in path.split("/") if p]:
        contents = node.get("CONTENTS")
        if not isinstance(contents, dict) or part not in contents:
            return None
        node = contents[part]
    return node


class SharedTree:
    """The tree every listener reads, built at most once per push tick however many listen.

    Each listener polls on its own thread; building the whole tree for each of them every tick
    took the engine from 42 to 0.4 fps with 100 listeners. Now the first listener of a tick
    builds it and the others read that one (a value is at most one tick old, as it was).
    """

    def __init__(self, build: Callable[[], dict[str, Any]], interval_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.build = build
        self.interval_s = interval_s
        self.clock = clock
        self.builds = 0
        self._tick = -1
        self._tree: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self) -> dict[str, Any]:
        with self._lock:  # the others wait for the one building: it is theirs too
            tick = int(self.clock() // self.interval_s)
            if tick != self._tick:
                self._tree = self.build()
                self._tick = tick
                self.builds += 1
            return self._tree


class ListenSession:
    """One WebSocket client on its HTTP request thread: LISTEN / IGNORE in, OSC value packets out."""

    def __init__(self, sock: socket.socket, tree: Callable[[], dict[str, Any]], closing: threading.Event,
                 rate_hz: float = PUSH_HZ) -> None:
        self.sock = sock
        self.tree = tree
        self.closing = closing
        self.interval_s = 1.0 / rate_hz
        self.protocol = ServerProtocol(state=State.OPEN, max_size=MAX_MESSAGE_BYTES)
        self.listening: dict[str, bytes | None] = {}  # path -> the last packet sent
        self.sent = 0
        self.refused = 0

    @staticmethod
    def handshake(path: str, headers: Mapping[str, str]) -> bytes:
        """The 101 answer to the upgrade request (or the 400 that says what was wrong)."""
        response = ServerProtocol().accept(Request(path, Headers(list(headers.items()))))
        return response.serialize()

    @staticmethod
    def busy(text: str) -> bytes:
        """The 503 answer to an upgrade when `MAX_LISTENERS` listen already (HTTP/1.1, as clients expect)."""
        return ServerProtocol().reject(503, text).serialize()

    def run(self) -> None:
        self.sock.settimeout(self.interval_s)
        try:
            while not self.closing.is_set() and self.protocol.state is State.OPEN:
                try:
                    data = self.sock.recv(65536)
                except TimeoutError:
                    data = None
                if data == b"":
                    self.protocol.receive_eof()
                elif data:
                    self.protocol.receive_data(data)
                    for event in self.protocol.events_received():
                        if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                            self._command(bytes(event.data).decode("utf-8", "replace"))
                if self.protocol.state is State.OPEN:  # a close frame just came in: answer it, push nothing
                    self._push()
                self._flush()
        except (OSError, InvalidState) as err:  # the client went away: nothing to clean up beyond the socket
            log.debug("OSCQuery listener left: %s", err)

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def _command(self, text: str) -> None:
        try:
            message = json.loads(text)
            command, path = message["COMMAND"], message["DATA"]
        except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: "[[[[…" nested too deep
            self.refused += 1
            log.info("OSCQuery listener sent %r; expected {\"COMMAND\": \"LISTEN\", \"DATA\": \"/vj/...\"}", text[:80])
            return
        if command == "IGNORE":
            self.listening.pop(str(path), None)
        elif command == "LISTEN" and isinstance(path, str) and len(self.listening) < MAX_LISTENS:
            node = lookup(self.tree(), path)
            if node is None or node.get("ACCESS") not in ACCESS_READABLE or "VALUE" not in node:
                self.refused += 1
                log.info("OSCQuery LISTEN %r refused: no readable value there", path[:80])
                return
            self.listening[path] = None  # sent at the next push: the value now, then its changes
        else:
            self.refused += 1

    def _push(self) -> None:
        if not self.listening:
            return
        tree = self.tree()
        for path, last in list(self.listening.items()):
            node = lookup(tree, path)
            packet = osc_packet(path, node) if node is not None else None
            if packet is not None and packet != last:
                self.protocol.send_binary(packet)
                self.listening[path] = packet
                self.sent += 1
