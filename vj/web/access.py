"""Who may load the page and open the WebSocket, and the static files the page is made of.

- Bound to loopback (the default), only this machine can connect; the Host header must then
  name a loopback address, so a web page elsewhere that rebinds its DNS to 127.0.0.1
  cannot drive the show from the performer's own browser.
- Bound beyond loopback (`--web-host 0.0.0.0`), or with `--web-token`, a random token
  printed at start is required on `/` and `/ws` (`?token=…`), so nobody else on the venue's
  network takes over the show.
- A browser's WebSocket must come from the page itself (Origin = Host).
"""

from __future__ import annotations

import hmac
import ipaddress
import mimetypes
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

STATIC_DIR = Path(__file__).with_name("static")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
# The page needs nothing from elsewhere: scripts, styles and sockets from this server, frames as blob URLs.
CSP = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; script-src 'self'"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """`host` as it goes in a URL a browser can open: a wildcard as this machine, IPv6 in brackets."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _split(url: str) -> SplitResult | None:
    """`url` taken apart, or None when it cannot be (`[` opens an IPv6 address it never closes)."""
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - checks the bracketed part too (raises on "[x" as urlsplit does not always)
    except ValueError:
        return None
    return parts


def new_token() -> str:
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class Access:
    """The access rule of one server: a token (or none) and whether Host must be loopback."""

    token: str | None
    loopback_only: bool

    def check(self, request: Request, *, websocket: bool, needs_token: bool = True) -> str | None:
        """None if the request may go on, else why not (answered 403).

        The scripts and styles are the same for every show, so they need no token; the page
        and the socket, which carry and drive the show, do.
        """
        host = request.headers.get("Host", "")
        host_parts = _split(f"//{host}")
        if host_parts is None:
            return f"Host {host[:80]!r} is not a host name or address"
        if self.loopback_only and not is_loopback(host_parts.hostname or ""):
            return f"Host {host[:80]!r} is not a loopback address (vj serves this page on loopback only)"
        if websocket:
            origin = request.headers.get("Origin")
            if origin is not None:
                origin_parts = _split(origin)
                if origin_parts is None or origin_parts.netloc != host:
                    return f"Origin {origin[:80]!r} is not this page ({host[:80]})"
        if self.token is None or not needs_token:
            return None
        path_parts = _split(request.path)
        given = parse_qs(path_parts.query).get("token", [""])[0] if path_parts is not None else ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return "this page needs the token `vj run` printed: open the URL it gave, ending in ?token=…"
        return None


class StaticFiles:
    """The page's files, read once at start (a show never waits on the disk for them)."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        for path in sorted(directory.iterdir()):
            if path.is_file():
                kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                self.files["/" + path.name] = (path.read_bytes(), kind)
        if "/index.html" not in self.files:
            raise FileNotFoundError(f"{directory}/index.html is missing (a broken install?)")

    def response(self, path: str) -> Response | None:
        """The file for a request path (`/` is index.html), or None if there is no such file."""
        parts = _split(path)
        if parts is None:
            return None
        name = parts.path
        found = self.files.get("/index.html" if name == "/" else name)
        if found is None:
            return None
        body, kind = found
        headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
                           ("Content-Security-Policy", CSP), ("Referrer-Policy", "no-referrer")])
        return Response(200, "OK", headers, body)


def gate_request(access: Access, static: StaticFiles, connection: ServerConnection,
                 request: Request) -> Response | None:
    """A page server's answer to an HTTP request: 403 naming what was refused, a static file, a 404,
    or None for a `/ws` request let through to the WebSocket handshake (websockets' `process_request`)."""
    path = request.path.split("?", 1)[0]
    websocket = path == "/ws"
    refused = access.check(request, websocket=websocket, needs_token=path in ("/", "/index.html", "/ws"))
    if refused is not None:
        return connection.respond(403, f"vj: {refused}\n")
    if websocket:
        return None  # go on with the WebSocket handshake
    return static.response(path) or connection.respond(404, "vj: no such page (try /)\n")
