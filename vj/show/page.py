"""The show's one page: every engine listed with its state, a few faders each, and faders for all at once.

The page talks over one WebSocket: the server sends the show's state twice a second (each
engine's state, note, frame count, own page and current fader values, from the trees the
supervisor last read), and the page sends `{"set": {"engine": NAME or "*", "address":
"strength", "value": 0.5}}`, which becomes one OSC message through the show's fan-out, as
`/vj/NAME/strength` or `/vj/strength` would. Each engine's own page (its link on the card)
has every control; this one plays the show.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from vj.errors import DeviceNotConnected
from vj.show.engine_state import leaves
from vj.show.fanout import ALL
from vj.show.supervisor import Show
from vj.web.access import Access, StaticFiles, gate_request, is_loopback, new_token, url_host
from vj.web.serving import ServerThread

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
FADERS = ("strength", "zoom", "angle", "noise", "master")
ADDRESS = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")
MAX_MESSAGE_CHARS = 4096


def fader_specs(tree: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each fader's address, range and description, from an engine's tree."""
    found = {leaf["FULL_PATH"]: leaf for leaf in leaves(tree)} if tree else {}
    specs = []
    for name in FADERS:
        leaf = found.get(f"/vj/{name}")
        if leaf is None or not leaf.get("RANGE"):
            continue
        bounds = leaf["RANGE"][0]
        specs.append({"address": name, "min": bounds["MIN"], "max": bounds["MAX"],
                      "description": leaf.get("DESCRIPTION", "")})
    return specs


def show_state(show: Show) -> dict[str, Any]:
    engines = []
    for name, e in show.engines.items():
        tree = show.trees.get(name)
        values = {leaf["FULL_PATH"][4:]: leaf.get("VALUE", [None])[0] for leaf in leaves(tree)
                  if leaf.get("FULL_PATH", "")[4:] in FADERS} if tree else {}
        engines.append({"name": name, "state": e.state.value, "note": e.note, "restarts": e.restarts,
                        "frames": e.frames, "fps": e.fps, "page": e.page_url(), "ndi": e.entry.ndi_source,
                        "reachable": show.reachable.get(name, False), "values": values})
    first = next((show.trees[n] for n in show.engines if n in show.trees), None)
    return {"engines": engines, "faders": fader_specs(first)}


class ShowPage:
    """The page's HTTP and WebSocket server, on its own thread and event loop (start, close, status)."""

    def __init__(self, show: Show, *, host: str = "127.0.0.1", port: int = 9002, state_hz: float = 2.0,
                 on_started: Callable[[str], None] | None = None) -> None:
        self.show = show
        self.host, self.port, self.state_hz = host, port, state_hz
        self.on_started = on_started
        self.access = Access(None if is_loopback(host) else new_token(), loopback_only=is_loopback(host))
        self.static = StaticFiles(STATIC_DIR)
        self.pages = 0
        self.received = 0
        self.rejected = 0
        self.last_rejection = ""
        self._clients: set[ServerConnection] = set()
        self._serving = ServerThread("vj-show-web", self._open_server, self._tick)
        self._ws_log = logging.getLogger("vj.show.websockets")
        self._ws_log.setLevel(logging.WARNING)

    @property
    def url(self) -> str:
        token = f"?token={self.access.token}" if self.access.token else ""
        return f"http://{url_host(self.host)}:{self.port}/{token}"

    def start(self) -> None:
        if not self._serving.start():
            raise DeviceNotConnected(f"show page: cannot listen on http://{self.host}:{self.port}: "
                                     f"{self._serving.error} (is another program using the port? set [show] web_port)")
        self.port = self._serving.port or self.port
        log.info("show page on %s", self.url)
        if self.on_started is not None:
            self.on_started(self.url)

    def _open_server(self) -> Awaitable[Server]:
        return serve(self._handler, self.host, self.port, process_request=self._http, max_size=MAX_MESSAGE_CHARS,
                     compression=None, logger=self._ws_log)

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        return gate_request(self.access, self.static, connection, request)

    async def _handler(self, ws: ServerConnection) -> None:
        self._clients.add(ws)
        self.pages += 1
        try:
            await ws.send(json.dumps({"show": show_state(self.show)}))
            async for message in ws:
                self.handle(message)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(ws)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0 / self.state_hz)
            if not self._clients:
                continue
            text = json.dumps({"show": show_state(self.show)})
            for ws in list(self._clients):
                try:
                    await asyncio.wait_for(ws.send(text), 5.0)
                except (ConnectionClosed, TimeoutError):
                    self._clients.discard(ws)

    def handle(self, message: str | bytes) -> None:
        """A page's message: a fader move becomes one OSC message to one engine or all; anything else is counted."""
        self.received += 1
        try:
            engine, address, value = self._parse(message)
        except ValueError as err:
            self.rejected += 1
            self.last_rejection = str(err)
            log.debug("show page: ignored a message: %s", err)
            return
        builder = OscMessageBuilder(f"/vj/{address}")
        builder.add_arg(value)
        payload = builder.build().dgram
        targets = list(self.show.engines) if engine == ALL else [engine]
        for name in targets:
            self.show.send(name, payload)

    def _parse(self, message: str | bytes) -> tuple[str, str, float | int | str]:
        if not isinstance(message, str):
            raise ValueError("expected a text message, found binary")
        try:
            data = json.loads(message)
        except ValueError:
            raise ValueError("expected JSON") from None
        move = data.get("set") if isinstance(data, dict) else None
        if not isinstance(move, dict):
            raise ValueError('expected {"set": {"engine", "address", "value"}}')
        engine, address, value = move.get("engine"), move.get("address"), move.get("value")
        if engine != ALL and engine not in self.show.engines:
            raise ValueError(f"expected an engine of the show or '*', found {engine!r}")
        if not isinstance(address, str) or not ADDRESS.match(address):
            raise ValueError(f"expected an address under /vj/ such as 'strength', found {address!r}")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"expected a number or a string, found {value!r}")
        return engine, address, value

    def close(self) -> None:
        self._serving.close()

    def status(self) -> str:
        return f"web :{self.port} pages {len(self._clients)} rx {self.received} bad {self.rejected}"
