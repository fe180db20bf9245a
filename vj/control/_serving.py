"""Stopping a stdlib socket server that runs `serve_forever` on a thread of its own (OSC, OSCQuery)."""

from __future__ import annotations

import socketserver
import threading


def stop_serving(server: socketserver.BaseServer | None, thread: threading.Thread | None,
                 timeout_s: float) -> None:
    """End the serve loop, close the socket, then wait for the thread (at most `timeout_s`).

    The order matters: `shutdown()` makes `serve_forever` return, so the join does not hang.
    """
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout_s)
