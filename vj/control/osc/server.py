"""OSC input: python-osc's blocking UDP server on its own thread, wiring parser and router to the ParamStore.

Why a blocking server: the threading server spawns a thread per datagram and drops most of
a burst (environment.md §11); one blocking thread drains the socket in order and keeps up.
Each datagram is parsed (`parse`), routed (`route`) and committed as one store batch; every
rejection is counted by reason here and logged at most once a second per address.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pythonosc import osc_message
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer

from vj.control._ratelog import RateLimitedLog
from vj.control._serving import stop_serving
from vj.control.commands.actions import ShowActions
from vj.control.commands.counters import CommandCounters
from vj.control.commands.reasons import HELD_FULL, MALFORMED, OUT_OF_RANGE, Rejection
from vj.control.osc.addresses import PREFIX, OscAddress, address_map
from vj.control.osc.parse import MAX_DATAGRAM, MAX_FUTURE_TIMETAG_S, MalformedDatagram, parse_datagram, seconds_until
from vj.control.osc.pickup import OscPickup, PickupMode
from vj.control.osc.route import OscRouter
from vj.control.tempo import Quantiser
from vj.errors import DeviceNotConnected
from vj.store import ParamStore

log = logging.getLogger(__name__)

DEFAULT_PORT = 9000
DEFAULT_HOST = "127.0.0.1"
RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024
# Bundles timetagged in the future wait in memory until due: a sender could otherwise fill memory (and,
# once they land, the take's timeline) with them. A cue list sends a few; these leave it ample room.
MAX_HELD_BUNDLES = 256
MAX_HELD_MESSAGES = 4096  # over all held bundles: one big datagram holds thousands of messages


@dataclass
class OscCounters(CommandCounters):
    """Every message ends in exactly one of applied / unchanged / commands / rejected (not malformed)."""

    datagrams: int = 0
    handled: int = 0  # datagrams whose writes, logs and listeners are all done (readers wait on it)
    bundles: int = 0
    unchanged: int = 0
    held_bundles: int = 0  # future-timetagged bundles waiting to be applied now
    held_messages: int = 0


class OscControl:
    """The OSC control source: `start()`, `close()`, `status()`; `handle_datagram()` for tests."""

    def __init__(self, store: ParamStore, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 actions: ShowActions | None = None, now: Callable[[], float] = time.time,
                 pickup: PickupMode = PickupMode.CHANGE) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.counters = OscCounters()
        self.pickup = OscPickup(store, pickup)
        self._router = OscRouter(store, actions or ShowActions(), self.pickup)
        self._now = now  # wall clock: OSC timetags are absolute NTP times
        self._lock = threading.Lock()
        self._ratelog = RateLimitedLog(log)
        self._server: BlockingOSCUDPServer | None = None
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[str, object], None]] = []
        self.receive_buffer_bytes = 0

    @property
    def actions(self) -> ShowActions:
        return self._router.actions

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        control = self

        class _Server(BlockingOSCUDPServer):
            # socketserver reads 8,192 bytes by default and cuts the rest off, which made a valid big
            # datagram look malformed; read one byte past the limit so parse can tell oversize apart.
            max_packet_size = MAX_DATAGRAM + 1

            def verify_request(self, request, client_address):  # type: ignore[no-untyped-def]
                return True  # let malformed datagrams through so they are counted, not dropped silently

            def finish_request(self, request, client_address):  # type: ignore[no-untyped-def]
                control.handle_datagram(request[0])

        try:
            self._server = _Server((self.host, self.port), Dispatcher())
        except OSError as err:
            raise DeviceNotConnected(f"OSC: cannot listen on udp://{self.host}:{self.port}: {err} "
                                     "(is another program using the port? choose one with --osc-port)") from err
        self._grow_receive_buffer(self._server.socket)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._serve, name="vj-osc", daemon=True)
        self._thread.start()
        log.info("OSC listening on udp://%s:%d (address map: vj osc-map)", self.host, self.port)

    def _grow_receive_buffer(self, sock: socket.socket) -> None:
        """A bigger kernel buffer absorbs bursts (a preset dump, a TouchDesigner cook of 500 channels)
        while this one thread drains it; the kernel caps the request at net.core.rmem_max."""
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            self.receive_buffer_bytes = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        except OSError as err:
            log.warning("OSC: could not enlarge the UDP receive buffer (%s); bursts may drop", err)
        if self.receive_buffer_bytes < RECEIVE_BUFFER_BYTES:
            log.info("OSC receive buffer is %d bytes (asked %d; raise net.core.rmem_max for bigger bursts)",
                     self.receive_buffer_bytes, RECEIVE_BUFFER_BYTES)

    def _serve(self) -> None:
        assert self._server is not None
        try:
            self._server.serve_forever(poll_interval=0.05)
        except Exception:  # the socket died under us; say so rather than vanish
            log.exception("OSC server stopped")

    def close(self, timeout_s: float = 2.0) -> None:
        stop_serving(self._server, self._thread, timeout_s)
        self._server = None

    def arm_pickup(self) -> None:
        """Called after a preset recall (`PresetSwitcher.on_recall`): see `pickup`."""
        self.pickup.arm()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def status(self) -> str:
        c = self.counters
        bad = ", ".join(f"{k} {v}" for k, v in sorted(c.rejected.items()))
        return f"osc :{self.port} rx {c.messages} bad {c.rejected_total()}" + (f" ({bad})" if bad else "")

    def add_listener(self, fn: Callable[[str, object], None]) -> None:
        """Called with (address, value) after each applied write (OSCQuery LISTEN, feedback)."""
        self._listeners.append(fn)

    def iter_addresses(self) -> Iterator[OscAddress]:
        return iter(address_map(self.store.registry))

    # ------------------------------------------------------------------ datagrams
    def handle_datagram(self, data: bytes) -> None:
        """Parse one UDP datagram and apply it; never raises."""
        with self._lock:  # one datagram at a time, so counters add up even if called from tests
            self.counters.datagrams += 1
            try:
                self._handle_locked(data)
            finally:
                self.counters.handled += 1

    def _handle_locked(self, data: bytes) -> None:
        try:
            datagram = parse_datagram(data)
        except MalformedDatagram as err:
            self._reject(Rejection("<datagram>", MALFORMED, str(err)))
            return
        if datagram.is_bundle:
            self.counters.bundles += 1
        messages = datagram.messages
        delay_s = seconds_until(datagram.timetag, self._now())
        if delay_s is None:
            self.counters.messages += len(messages)
            for msg in messages:
                self._reject(Rejection(msg.address, OUT_OF_RANGE,
                                       f"bundle timetag more than {MAX_FUTURE_TIMETAG_S:g} s ahead"))
            return
        quantiser = self.actions.quantiser
        if delay_s > 0 and quantiser is not None:
            self._hold(messages, quantiser.tempo.now() + delay_s, quantiser)
            return
        self._apply(messages)

    def _hold(self, messages: list[osc_message.OscMessage], due: float, quantiser: Quantiser) -> None:
        """Keep a future bundle until it is due, within the bounds; past them it is refused and counted."""
        c = self.counters
        if c.held_bundles >= MAX_HELD_BUNDLES or c.held_messages + len(messages) > MAX_HELD_MESSAGES:
            c.messages += len(messages)
            for msg in messages:
                self._reject(Rejection(msg.address, HELD_FULL,
                                       f"{c.held_bundles} future bundles ({c.held_messages} messages) already wait; "
                                       f"at most {MAX_HELD_BUNDLES} bundles and {MAX_HELD_MESSAGES} messages"))
            return
        c.held_bundles += 1
        c.held_messages += len(messages)
        quantiser.submit_at(due, lambda: self._apply_held(messages))

    def _apply_held(self, messages: list[osc_message.OscMessage]) -> None:
        with self._lock:
            self.counters.held_bundles -= 1
            self.counters.held_messages -= len(messages)
            self._apply(messages)

    def _apply(self, messages: list[osc_message.OscMessage]) -> None:
        """Route the messages, count their rejections, land their writes as one batch, then tell listeners."""
        self.counters.messages += len(messages)
        writes = self._router.route(messages)
        for rejection in writes.rejections:
            self._reject(rejection)
        self._router.commit(writes)
        c = self.counters
        c.applied += writes.applied
        c.unchanged += writes.unchanged
        c.commands += writes.commands
        for name, value in writes.values.items():
            for listener in self._listeners:
                listener(PREFIX + name, value)

    def _reject(self, rejection: Rejection) -> None:
        self.counters.rejected[rejection.reason] += 1
        self.store.reject(rejection.reason)
        address = rejection.address
        self._ratelog.warning(address, "OSC %s ignored (%s): %s", address[:80], rejection.reason, rejection.detail)
