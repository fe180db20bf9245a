"""`WebServer`: the page over HTTP and one WebSocket at /ws, on its own thread and event loop.

Why `websockets` (asyncio): one library serves both the handful of static files (through its
`process_request` hook) and the socket, with per-connection limits built in (message size,
incoming queue, write buffer, pings that find dead peers); it is pure Python with no
dependencies, and one event loop on one thread carries every page without a thread each.
An ASGI stack would add a framework and a server for four files and one socket; the
OSCQuery HTTP server is a blocking `http.server` without WebSocket support.

The render thread never meets this server: pages write into the store (a short lock, as
OSC does), values are read from the store's last snapshot, and preview frames come through
a newest-frame slot. Each page has a bounded send queue and a send timeout: a page that
cannot keep up is disconnected, never waited for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from vj.control.commands.reasons import OVERSIZED, RATE_LIMITED
from vj.errors import DeviceNotConnected
from vj.web.access import Access, StaticFiles, gate_request, is_loopback, new_token, url_host
from vj.web.context import WebContext
from vj.web.preview import DEFAULT_MAX_SIDE, PreviewSlot, encode_jpeg
from vj.web.protocol import MAX_MESSAGE_CHARS, WebProtocol
from vj.web.serving import ServerThread
from vj.web.state import PromptHistory, full_state, show_state, values_payload
from vj.web.upload import PictureUpload

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
MAX_FRAME_BYTES = 4 * MAX_MESSAGE_CHARS  # bigger frames close the connection; up to it: counted, ignored
_CLOSE_TOO_BIG = 1009


class _Client:
    """One connected page: its bounded send queue, preview flag and message budget."""

    def __init__(self, ws: ServerConnection, queue_size: int, messages_per_s: float) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str | bytes] = asyncio.Queue(queue_size)
        self.preview = True
        self.frame_pending = False  # newest frame wins: at most one frame queued per page
        self.dropped = False
        self.upload = PictureUpload()  # a reference picture arriving in chunks
        self._rate = messages_per_s
        self._budget = 2.0 * messages_per_s
        self._t = time.monotonic()

    def spend(self) -> bool:
        """Token bucket: a page may send `messages_per_s` on average (a fader drag sends ~30)."""
        now = time.monotonic()
        self._budget = min(2.0 * self._rate, self._budget + (now - self._t) * self._rate)
        self._t = now
        if self._budget < 1.0:
            return False
        self._budget -= 1.0
        return True


class WebServer:
    """The browser control surface of one show (a session control: start, close, status)."""

    def __init__(self, ctx: WebContext, *, host: str = DEFAULT_HOST, port: int = 9002,
                 require_token: bool | None = None, preview: PreviewSlot | None = None,
                 values_hz: float = 10.0, status_hz: float = 2.0, preview_fps: float = 4.0,
                 preview_max_side: int = DEFAULT_MAX_SIDE, send_queue: int = 64, send_timeout_s: float = 5.0,
                 messages_per_s: float = 100.0, on_started: Callable[[str], None] | None = None) -> None:
        """`require_token`: None means only when bound beyond loopback."""
        self.ctx = ctx
        self.host = host
        self.port = port
        needs_token = not is_loopback(host) if require_token is None else require_token
        self.access = Access(new_token() if needs_token else None, loopback_only=is_loopback(host))
        self.preview = preview
        self.values_hz, self.status_hz, self.preview_fps = values_hz, status_hz, preview_fps
        self.preview_max_side = preview_max_side
        self.send_queue, self.send_timeout_s, self.messages_per_s = send_queue, send_timeout_s, messages_per_s
        self.on_started = on_started
        self.protocol = WebProtocol(ctx)
        # websockets logs every connection at INFO; a show's log keeps only its warnings
        self._ws_log = logging.getLogger("vj.web.websockets")
        self._ws_log.setLevel(logging.WARNING)
        self.history = PromptHistory()
        self.static = StaticFiles()
        self.clients: set[_Client] = set()
        self.connections = 0
        self.dropped_clients = 0
        self.frames_sent = 0
        self._serving = ServerThread("vj-web", self._open_server, self._ticker)
        self._record_since: float | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def token(self) -> str | None:
        return self.access.token

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def start(self) -> None:
        if not self._serving.start():
            raise DeviceNotConnected(f"web: cannot listen on http://{self.host}:{self.port}: {self._serving.error} "
                                     "(is another program using the port? choose one with --web-port, "
                                     "or --no-web)") from self._serving.error
        self.port = self._serving.port or self.port
        log.info("web control on %s", self.url)
        if self.on_started is not None:
            self.on_started(self.url)

    def close(self, timeout_s: float = 3.0) -> None:
        self._serving.close(timeout_s)

    def status(self) -> str:
        c = self.protocol.counters
        bad = ", ".join(f"{k} {v}" for k, v in sorted(c.rejected.items()))
        dropped = f" dropped {self.dropped_clients}" if self.dropped_clients else ""
        return (f"web :{self.port} pages {len(self.clients)} rx {c.messages} bad {c.rejected_total()}"
                + (f" ({bad})" if bad else "") + dropped)

    def _open_server(self) -> Awaitable[Server]:
        # No compression: frames are JPEG already, and inflating a hostile page's frames costs CPU.
        return serve(self._handler, self.host, self.port, process_request=self._http, max_size=MAX_FRAME_BYTES,
                     max_queue=16, compression=None, ping_interval=5.0, ping_timeout=10.0, close_timeout=1.0,
                     logger=self._ws_log)

    # ------------------------------------------------------------------ HTTP and connections
    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        return gate_request(self.access, self.static, connection, request)

    async def _handler(self, ws: ServerConnection) -> None:
        client = _Client(ws, self.send_queue, self.messages_per_s)
        self.clients.add(client)
        self.connections += 1
        sender = asyncio.create_task(self._sender(client))
        try:
            self._push(client, {"state": full_state(self.ctx, self.history)})
            self._push(client, {"values": values_payload(self.ctx)})
            async for message in ws:
                # An announced upload's chunks are bounded by its size, not by the message budget.
                chunk = isinstance(message, bytes) and client.upload.pending
                if not chunk and not client.spend():
                    self.protocol.reject(RATE_LIMITED, f"more than {self.messages_per_s:g} messages a second")
                    continue
                replies = self.protocol.handle_text(message, on_preview=lambda on: setattr(client, "preview", on),
                                                    upload=client.upload)
                for reply in replies:
                    self._push(client, reply)
        except ConnectionClosed as err:
            if err.sent is not None and err.sent.code == _CLOSE_TOO_BIG:
                self.protocol.reject(OVERSIZED, f"a frame over {MAX_FRAME_BYTES} bytes: connection closed")
        finally:
            self.clients.discard(client)
            sender.cancel()

    async def _sender(self, client: _Client) -> None:
        try:
            while True:
                message = await client.queue.get()
                if isinstance(message, bytes):
                    client.frame_pending = False
                await asyncio.wait_for(client.ws.send(message), self.send_timeout_s)
        except TimeoutError:
            self._drop(client, f"a send took over {self.send_timeout_s:g} s")
        except ConnectionClosed:
            pass

    def _push(self, client: _Client, message: dict[str, object] | str | bytes) -> None:
        if client.dropped:
            return
        data = json.dumps(message, separators=(",", ":")) if isinstance(message, dict) else message
        try:
            client.queue.put_nowait(data)
        except asyncio.QueueFull:
            self._drop(client, f"{self.send_queue} messages waiting to be sent")

    def _broadcast(self, message: dict[str, object]) -> None:
        data = json.dumps(message, separators=(",", ":"))
        for client in list(self.clients):
            self._push(client, data)

    def _drop(self, client: _Client, why: str) -> None:
        """A page that cannot keep up is cut off at once (no close handshake to wait for)."""
        if client.dropped:
            return
        client.dropped = True
        self.dropped_clients += 1
        log.warning("web: dropped a page at %s: %s", client.ws.remote_address, why)
        client.ws.transport.abort()

    # ------------------------------------------------------------------ pushes
    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        last_values: dict[str, object] | None = None
        last_show = show_state(self.ctx, self.history)
        next_status = next_preview = 0.0
        while True:
            await asyncio.sleep(1.0 / self.values_hz)
            if not self.clients:
                last_values = None
                continue
            try:
                now = loop.time()
                values = values_payload(self.ctx)
                if values != last_values:
                    self._broadcast({"values": values})
                    last_values = values
                show = show_state(self.ctx, self.history)
                changed = {k: v for k, v in show.items() if last_show.get(k) != v}
                if changed:
                    self._broadcast({"state": changed})
                last_show = show
                if now >= next_status:
                    next_status = now + 1.0 / self.status_hz
                    self._broadcast({"status": self._status(show)})
                if self.preview is not None and now >= next_preview:
                    next_preview = now + 1.0 / self.preview_fps
                    self._send_preview()
            except Exception:  # one bad tick must not end the pushes for the rest of the show
                log.exception("web: push failed")

    def _status(self, show: dict[str, object]) -> dict[str, object]:
        record = show["record"]
        on = isinstance(record, dict) and bool(record.get("on"))
        if on and self._record_since is None:
            self._record_since = time.monotonic()
        elif not on:
            self._record_since = None
        figures = dict(self.ctx.status())
        figures["record_s"] = round(time.monotonic() - self._record_since, 1) if self._record_since else 0.0
        figures["pages"] = len(self.clients)
        return figures

    def _send_preview(self) -> None:
        assert self.preview is not None
        wanting = [c for c in self.clients if c.preview and not c.frame_pending and not c.dropped]
        if not wanting:
            return
        frame = self.preview.take()
        if frame is None:
            return
        jpeg = encode_jpeg(frame.image, self.preview_max_side)
        for client in wanting:
            client.frame_pending = True
            self._push(client, jpeg)
            self.frames_sent += 1
