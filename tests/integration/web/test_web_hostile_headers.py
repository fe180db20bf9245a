"""Malformed Host / Origin headers and request paths over real HTTP: a 403 naming the header, never a 500.

`Host: [` opens an IPv6 literal it never closes; parsing it raised inside the server (a 500 and a
traceback), reachable from the network before the token check. Also the URL `vj run` prints for
`--web-host ::`, fetched as printed.
"""

from __future__ import annotations

import http.client
import logging
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest

from tests.helpers import wait_for
from tests.integration.web.test_web_protocol import make_show
from vj.web.preview import PreviewSlot
from vj.web.server import WebServer


def serve(host: str) -> tuple[WebServer, object]:
    show, ctx, _ = make_show()
    server = WebServer(ctx, host=host, port=0, preview=PreviewSlot(), values_hz=20.0, status_hz=5.0,
                       preview_fps=10.0)
    server.start()
    return server, show


@pytest.fixture(params=["127.0.0.1", "0.0.0.0"])
def server(request: pytest.FixtureRequest) -> Iterator[WebServer]:
    srv, show = serve(request.param)
    yield srv
    srv.close()
    show.quantiser.close()  # type: ignore[attr-defined]


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read().decode("utf-8", "replace")
    conn.close()
    return response.status, body


WS_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


@pytest.mark.parametrize(("path", "headers", "named"), [
    ("/", {"Host": "["}, "Host"),
    ("/app.js", {"Host": "[::1"}, "Host"),
    ("/ws", {"Host": "[", **WS_HEADERS}, "Host"),
    ("/ws", {"Host": "127.0.0.1", "Origin": "http://[", **WS_HEADERS}, "Origin"),
])
def test_a_malformed_host_or_origin_is_refused_with_403(server: WebServer, path: str, headers: dict[str, str],
                                                        named: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    status, body = get(server.port, path, headers)
    assert status == 403 and named in body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback logged


def test_a_malformed_request_path_is_not_a_500(server: WebServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    token = f"?token={server.token}" if server.token else ""
    status, _ = get(server.port, "//[" + token, {"Host": "127.0.0.1"})
    assert status in (403, 404)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_the_url_printed_for_every_ipv6_interface_opens_the_page() -> None:
    srv, show = serve("::")
    try:
        assert srv.url.startswith(f"http://[::1]:{srv.port}/?token=")
        with urlopen(srv.url, timeout=10) as response:  # the URL exactly as printed
            assert response.status == 200 and b"<html" in response.read().lower()
    finally:
        srv.close()
        show.quantiser.close()  # type: ignore[attr-defined]


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_vj_run_with_web_host_ipv6_any_prints_a_url_that_opens(tmp_path: Path) -> None:
    """`vj run --web-host ::` (a real child process, tiny model): the printed URL opens the page."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vj.cli", "run", "zoom-tunnel", "--model", "tiny", "--width", "64", "--height", "64",
         "--osc-port", "0", "--no-zeroconf", "--web-host", "::", "--duration", "240"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True).start()
    try:
        found: list[str] = []

        def printed() -> bool:
            assert proc.poll() is None, "vj run ended early:\n" + "".join(lines[-30:])
            found[:] = [m.group(1) for line in list(lines) if (m := re.search(r"control page on (\S+)", line))]
            return bool(found)

        wait_for(printed, timeout_s=240, poll_s=0.1)
        url = found[0]
        assert re.fullmatch(r"http://\[::1\]:\d+/\?token=\S+", url), url
        with urlopen(url, timeout=10) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
