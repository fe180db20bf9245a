"""OSCQuery LISTEN / IGNORE over a real WebSocket (the `websockets` client) on the OSCQuery HTTP port,
the pushed binary frames decoded with python-osc."""

from __future__ import annotations

import http.client
import json
import time

import pytest
from pythonosc.osc_message import OscMessage
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from vj.control.oscquery import OscQueryServer
from vj.store import ParamStore


def next_packet(ws: ClientConnection, timeout_s: float = 5.0) -> OscMessage:
    frame = ws.recv(timeout=timeout_s)
    assert isinstance(frame, bytes), f"expected a binary OSC frame, found {frame!r}"
    return OscMessage(frame)


def no_packet(ws: ClientConnection, wait_s: float = 0.3) -> bool:
    try:
        ws.recv(timeout=wait_s)
    except TimeoutError:
        return True
    return False


def test_host_info_announces_listen(oscquery_served: tuple[OscQueryServer, ParamStore]) -> None:
    server, _ = oscquery_served
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/?HOST_INFO")
    assert json.loads(conn.getresponse().read())["EXTENSIONS"]["LISTEN"] is True
    conn.close()


def test_listen_pushes_the_value_then_each_change_and_ignore_stops_it(
        oscquery_served: tuple[OscQueryServer, ParamStore]) -> None:
    server, store = oscquery_served
    with connect(f"ws://127.0.0.1:{server.port}/") as ws:
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/zoom"}))
        first = next_packet(ws)
        assert first.address == "/vj/zoom" and first.params == [pytest.approx(1.02)]
        assert no_packet(ws)  # nothing changed: nothing sent
        store.set("zoom", 1.5, source="osc")
        changed = next_packet(ws)
        assert changed.address == "/vj/zoom" and changed.params == [pytest.approx(1.5)]
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/prompt/0/text"}))
        assert next_packet(ws).address == "/vj/prompt/0/text"  # its value now
        store.set_prompt(0, "a glass forest")
        text = next_packet(ws)
        assert text.address == "/vj/prompt/0/text" and text.params == ["a glass forest"]
        ws.send(json.dumps({"COMMAND": "IGNORE", "DATA": "/vj/zoom"}))
        time.sleep(0.2)
        store.set("zoom", 1.7, source="osc")
        assert no_packet(ws)
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/border"}))
        border = next_packet(ws)
        assert border.params == ["replicate"]  # choices are strings
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/seed"}))
        seed = next_packet(ws)
        assert seed.params == [42] and isinstance(seed.params[0], int)
    assert server.listeners == 1


def test_bad_commands_and_unreadable_paths_are_refused_and_plain_http_still_works(
        oscquery_served: tuple[OscQueryServer, ParamStore]) -> None:
    server, _ = oscquery_served
    with connect(f"ws://127.0.0.1:{server.port}/") as ws:
        ws.send("not json")
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/warp_speed"}))  # no such node
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/preset"}))  # write-only
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/bpm"}))
        bpm = next_packet(ws)
        assert bpm.address == "/vj/bpm" and bpm.params == [pytest.approx(128.0)]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/vj/zoom?VALUE")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["VALUE"] == [pytest.approx(1.02)]
        conn.close()


def test_closing_the_server_ends_the_listeners(oscquery_served: tuple[OscQueryServer, ParamStore]) -> None:
    server, _ = oscquery_served
    with connect(f"ws://127.0.0.1:{server.port}/") as ws:
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/zoom"}))
        next_packet(ws)
        started = time.monotonic()
        server.close()
        with pytest.raises(ConnectionClosed):  # the server going away ends the connection
            for _ in range(100):
                ws.recv(timeout=5)
        assert time.monotonic() - started < 5
