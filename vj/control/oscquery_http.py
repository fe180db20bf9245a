"""The OSCQuery HTTP server's bounds: at most `MAX_CONNECTIONS` connections at once, each on its own thread.

The stdlib `ThreadingHTTPServer` starts a thread for every connection and keeps it as long as the
client keeps the socket open: 500 half-open connections held 511 threads. Here a connection
beyond the cap is closed at once (counted in `refused`), and a request handler that sets a
`timeout` closes a connection that sends no request within it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vj.control.admission import Admission

MAX_CONNECTIONS = 64  # connections served at once, LISTEN WebSockets included
IDLE_TIMEOUT_S = 10.0  # a connection that sends no complete request line in this long is closed


class BoundedHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that serves at most `max_connections` connections at once."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Callable[..., BaseHTTPRequestHandler],
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.connections = Admission(max_connections)  # refused ones are closed at once
        super().__init__(address, handler)

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket],  # type: ignore[override]
                        client_address: tuple[str, int]) -> None:
        if not self.connections.try_enter():
            self.shutdown_request(request)  # type: ignore[arg-type]
            return
        try:
            super().process_request(request, client_address)  # type: ignore[arg-type]
        except BaseException:  # no thread started: the slot is free again
            self.connections.leave()
            raise

    def process_request_thread(self, request: socket.socket | tuple[bytes, socket.socket],  # type: ignore[override]
                               client_address: tuple[str, int]) -> None:
        try:
            super().process_request_thread(request, client_address)  # type: ignore[arg-type]
        finally:
            self.connections.leave()
