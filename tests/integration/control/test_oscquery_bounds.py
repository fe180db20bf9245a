"""What OSCQuery clients can cost the show is bounded: real sockets, real WebSockets (`websockets`).

- LISTEN clients share one tree built at most once per push tick (each built its own 30 times a
  second: 100 listeners took the engine from 42 to 0.4 fps); beyond `max_listeners` an upgrade is
  answered 503 and counted.
- A connection that sends no request is closed after `idle_timeout_s`; beyond `max_connections`
  a connection is closed at once and counted (500 half-open connections held 511 threads).
- Deeply nested JSON on a LISTEN connection is a refused command, not a dead thread.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from pythonosc.osc_message import OscMessage
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.helpers import wait_for
from vj.control.oscquery import OscQueryServer
from vj.control.oscquery_listen import PUSH_HZ
from vj.control.tempo import TempoClock
from vj.store import ParamStore


def start(**limits: Any) -> tuple[OscQueryServer, ParamStore]:
    store = ParamStore(base={"zoom": 1.02})
    server = OscQueryServer(store, osc_host="127.0.0.1", osc_port=9000, http_port=0, tempo=TempoClock(128.0),
                            advertise=False, **limits)
    server.start()
    return server, store


@pytest.fixture
def limited(request: pytest.FixtureRequest) -> Iterator[tuple[OscQueryServer, ParamStore]]:
    server, store = start(**getattr(request, "param", {}))
    yield server, store
    server.close()


def listen(stack: ExitStack, server: OscQueryServer, *paths: str) -> ClientConnection:
    """A LISTEN client, closed with `stack`."""
    ws = stack.enter_context(connect(f"ws://127.0.0.1:{server.port}/"))
    for path in paths:
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": path}))
    return ws


def packet(ws: ClientConnection, timeout_s: float = 10.0) -> OscMessage:
    frame = ws.recv(timeout=timeout_s)
    assert isinstance(frame, bytes)
    return OscMessage(frame)


class CountingBuild:
    """Wraps the tree builder: how many whole trees were built."""

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self.build = build
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
        return self.build()


def test_listeners_share_one_tree_per_push_tick(limited: tuple[OscQueryServer, ParamStore]) -> None:
    server, store = limited
    counting = CountingBuild(server.tree.tree)
    server.tree.tree = counting  # type: ignore[method-assign]
    with ExitStack() as stack:
        clients = [listen(stack, server, "/vj/zoom", "/vj/angle", "/vj/prompt/0/text") for _ in range(12)]
        for ws in clients:
            for _ in range(3):
                packet(ws)
        calls_before, t0 = counting.calls, time.monotonic()
        for step in range(1, 6):  # every listener sees every change: the pushes go on while we count
            store.set("zoom", 1.0 + step / 100, source="osc")
            for ws in clients:
                while packet(ws).params != [pytest.approx(1.0 + step / 100)]:
                    pass
        elapsed = time.monotonic() - t0
        ticks = elapsed * PUSH_HZ + 2  # the ticks this window can hold (load only lowers the builds)
        # Each listener building its own (before): about 12 per tick. Shared: at most one.
        assert counting.calls - calls_before <= ticks, (counting.calls - calls_before, ticks)


@pytest.mark.parametrize("limited", [{"max_listeners": 3}], indirect=True)
def test_listeners_beyond_the_cap_are_refused_503_and_counted(limited: tuple[OscQueryServer, ParamStore]) -> None:
    server, _ = limited
    with ExitStack() as stack:
        clients = [listen(stack, server, "/vj/zoom") for _ in range(3)]
        for ws in clients:
            packet(ws)
        with pytest.raises(InvalidStatus) as refused:
            listen(stack, server)
        assert refused.value.response.status_code == 503
        assert server.listen_slots.refused == 1 and "refused 1" in server.status()
        clients.pop().close()
        wait_for(lambda: server.listen_slots.active == 2)
        packet(listen(stack, server, "/vj/zoom"))  # a freed place is taken again


def test_deeply_nested_json_is_a_refused_command_not_a_dead_listener(
        limited: tuple[OscQueryServer, ParamStore]) -> None:
    server, _ = limited
    with ExitStack() as stack:
        ws = listen(stack, server)
        ws.send("[" * 60_000)  # within the 64 KiB message limit, past the JSON parser's recursion limit
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/zoom"}))
        assert packet(ws).address == "/vj/zoom"


@pytest.mark.parametrize("limited", [{"idle_timeout_s": 0.5}], indirect=True)
@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\n"])
def test_a_connection_that_sends_no_request_is_closed(limited: tuple[OscQueryServer, ParamStore],
                                                      sent: bytes) -> None:
    server, _ = limited
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(sent)
        assert sock.recv(1024) == b""  # closed by the server (a generous 30 s before the test fails)
    wait_for(lambda: server.active_connections == 0)


def handler_threads() -> int:
    return sum("process_request_thread" in t.name for t in threading.enumerate())


@pytest.mark.parametrize("limited", [{"max_connections": 8, "idle_timeout_s": 60.0}], indirect=True)
def test_connections_beyond_the_cap_are_closed_at_once_and_counted(
        limited: tuple[OscQueryServer, ParamStore]) -> None:
    server, _ = limited
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(20)]
    try:
        wait_for(lambda: server.connections_refused == 12)
        assert server.active_connections == 8 and handler_threads() <= 8
        for sock in held[8:]:  # the refused ones see the door close
            assert sock.recv(1024) == b""
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: server.active_connections == 0)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/vj/zoom?VALUE")
    assert json.loads(conn.getresponse().read()) == {"VALUE": [pytest.approx(1.02)]}
    conn.close()
