"""A websockets server on a thread of its own: started and waited for, ticked, stopped from any thread.

Shared by the control page (vj.web.server) and the show page (vj.show.page): each hands over how
it opens its server and what it does on its ticks; this owns the event loop's lifecycle (the
port it got, the error that kept it from listening, the stop from another thread).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine

from websockets.asyncio.server import Server

log = logging.getLogger(__name__)


class ServerThread:
    """Runs `open_server()` and `tick()` on an asyncio loop in a daemon thread named `name`."""

    def __init__(self, name: str, open_server: Callable[[], Awaitable[Server]],
                 tick: Callable[[], Coroutine[object, object, None]]) -> None:
        self.name = name
        self._open_server = open_server
        self._tick = tick
        self.port: int | None = None
        self.error: BaseException | None = None  # what kept it from listening, or what ended its loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 10.0) -> bool:
        """Start the thread and wait until the server listens; False (with `error` set) when it could not."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            self.error = self.error or TimeoutError(f"the server did not start within {timeout_s:g} s")
        return self.error is None

    def close(self, timeout_s: float = 3.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._thread = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as err:  # the loop died: say so rather than vanish
            log.exception("%s: the server stopped", self.name)
            self.error = self.error or err
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            server = await self._open_server()
        except OSError as err:
            self.error = err
            self._ready.set()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        ticker = asyncio.create_task(self._tick())
        await self._stop.wait()
        ticker.cancel()
        server.close()
        await server.wait_closed()
