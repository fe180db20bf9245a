"""A remote engine (`host = ...`): played over OSC and read over OSCQuery, never started by the show.

The "other machine" is vj's own OSC server and OSCQuery server on a parameter store, on
loopback: what a `vj run` on another host serves, without a model to load.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from pythonosc.udp_client import SimpleUDPClient
from websockets.sync.client import connect

from tests.helpers import wait_for
from vj.control.osc.server import OscControl
from vj.control.oscquery import OscQueryServer
from vj.control.tempo import TempoClock
from vj.show.build import build_show
from vj.show.engine_process import EngineState
from vj.show.page import ShowPage
from vj.show.showfile import parse_show
from vj.show.supervisor import Show, free_port
from vj.store import ParamStore


class OtherMachine:
    def __init__(self) -> None:
        self.store = ParamStore()
        self.osc_port = free_port(socket.SOCK_DGRAM)
        self.osc = OscControl(self.store, port=self.osc_port)
        self.oscquery = OscQueryServer(self.store, osc_host="127.0.0.1", osc_port=self.osc_port, http_port=0,
                                       tempo=TempoClock(120.0), advertise=False)
        self.osc.start()
        self.oscquery.start()

    def close(self) -> None:
        self.oscquery.close()
        self.osc.close()


@pytest.fixture
def remote_show() -> Iterator[tuple[Show, OtherMachine]]:
    other = OtherMachine()
    show = build_show(parse_show({"show": {"osc_port": 0, "zeroconf": False}, "engines": {"wall": {
        "host": "127.0.0.1", "osc_port": other.osc_port, "oscquery_port": other.oscquery.port,
        "web_port": free_port()}}}), poll_s=0.2)
    show.start()
    yield show, other
    show.stop()
    other.close()


def test_show_plays_a_remote_engine_over_osc_and_reads_its_state(remote_show: tuple[Show, OtherMachine]) -> None:
    show, other = remote_show
    wall = show.engines["wall"]
    assert wall.state is EngineState.REMOTE and wall.pid is None  # nothing started here
    SimpleUDPClient("127.0.0.1", show.fanout.port).send_message("/vj/wall/zoom", 1.07)
    wait_for(lambda: other.store.target("zoom") == pytest.approx(1.07), timeout_s=10)
    SimpleUDPClient("127.0.0.1", show.fanout.port).send_message("/vj/strength", 0.25)
    wait_for(lambda: other.store.target("strength") == pytest.approx(0.25), timeout_s=10)
    wait_for(lambda: show.saved.get("wall", {}).get("/vj/zoom") == [pytest.approx(1.07)], timeout_s=10)
    page = next(c for c in show.controls if isinstance(c, ShowPage))
    with connect(f"ws://127.0.0.1:{page.port}/ws", open_timeout=10) as ws:
        (engine,) = json.loads(ws.recv(10))["show"]["engines"]
    assert engine["state"] == "remote" and engine["reachable"] and engine["values"]["zoom"] == pytest.approx(1.07)
    assert "wall remote up" in show.status_line()
    other.close()  # the other machine goes away: the show says so and goes on
    wait_for(lambda: "wall remote unreachable" in show.status_line(), timeout_s=20)
