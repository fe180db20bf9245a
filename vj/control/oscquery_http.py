"""The OSCQuery HTTP server's bounds: at most `MAX_CONNECTIONS` connections at once, each on its own thread.

The stdlib `ThreadingHTTPServer` starts a thread for every connection and keeps it as long as the
client keeps the socket open: 500 half-open connections held 511 threads. Here a connection
beyond the cap is closed at once (counted in `refused`), and a request handler that sets a
`timeout` closes a connection that sends no request within it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_CONNECTIONS = 64  # connections served at once, LISTEN WebSockets included
IDLE_TIMEOUT_S = 10.0  # a connection that sends no complete request line in this long is closed


class BoundedHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that serves at most `max_connections` connections at once."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Callable[..., BaseHTTPRequestHandler],
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.max_connections = max_connections
        self.active = 0  # connections being served now
        self.refused = 0  # connections closed at once because `max_connections` were being served
        self._count_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket],  # type: ignore[override]
                        client_address: tuple[str, int]) -> None:
        with self._count_lock:
            full = self.active >= self.max_connections
            if full:
                self.refused += 1
            else:
                self.active += 1
        if full:
            self.shutdown_request(request)  # type: ignore[arg-type]
            return
        try:
            super().process_request(request, client_address)  # type: ignore[arg-type]
        except BaseException:  # no thread started: the slot is free again
            self._release()
            raise

    def process_request_thread(self, request: socket.socket | tuple[bytes, socket.socket],  # type: ignore[override]
                               client_address: tuple[str, int]) -> None:
        try:
            super().process_request_thread(request, client_address)  # type: ignore[arg-type]
        finally:
            self._release()

    def _release(self) -> None:
        with self._count_lock:
            self.active -= 1
