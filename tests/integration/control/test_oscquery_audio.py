"""The audio modulators over OSCQuery: python-oscquery reads them over real HTTP, every writable node
they advertise is sent back over real UDP to the real OSC router and reads back changed, and a
LISTEN on a meter streams the sound's movement over a real WebSocket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pythonosc.udp_client import SimpleUDPClient
from websockets.sync.client import connect

from tests.helpers import wait_for
from tests.integration.control.test_oscquery_http import check_node, get, oscquery_client
from tests.integration.control.test_oscquery_listen import next_packet
from vj.control.audio.analysis import AudioFeatures
from vj.control.audio.modulators import AudioMod, AudioModulators
from vj.control.commands import ShowActions
from vj.control.midi.curves import Curve
from vj.control.modulators import ModulatorBank
from vj.control.osc import OscControl
from vj.control.oscquery import OscQueryServer
from vj.control.tempo import TempoClock
from vj.store import ParamStore


def features(bass: float, mid: float = 0.0, high: float = 0.0, onset: bool = False) -> AudioFeatures:
    return AudioFeatures(bands={"bass": bass, "mid": mid, "high": high}, level=max(bass, mid, high), flux=0.0,
                         onset=onset)


@dataclass
class Served:
    store: ParamStore
    audio: AudioModulators
    osc: OscControl
    query: OscQueryServer


@pytest.fixture
def served() -> Iterator[Served]:
    """A store with audio modulators on zoom and angle, the real OSC server and OSCQuery over it."""
    store = ParamStore(base={"zoom": 1.02})
    tempo = TempoClock(128.0)
    bank = ModulatorBank(store, tempo)
    audio = AudioModulators(store, bank)
    audio.assign("zoom", AudioMod("bass", 0.05, attack_ms=0.0, release_ms=150.0))
    audio.assign("angle", AudioMod("onset", 3.0, offset=-1.0, curve=Curve.EXPONENTIAL))
    audio.step(features(0.5), 0.01)
    osc = OscControl(store, port=0, actions=ShowActions(tempo=tempo, modulators=bank, audio=audio))
    osc.start()
    query = OscQueryServer(store, osc_host="127.0.0.1", osc_port=osc.port, http_port=0, tempo=tempo,
                           advertise=False, modulators=bank, audio=audio)
    query.start()
    yield Served(store, audio, osc, query)
    query.close()
    osc.close()


def test_python_oscquery_sees_each_loaded_audio_modulator(served: Served) -> None:
    pytest.importorskip("pythonoscquery", reason="python-oscquery is in the test extra")
    client = oscquery_client(served.query)
    nodes = {node.full_path: node for node in client.query_node("/")}
    assert nodes["/vj/audio/zoom/set"].value == ["bass", 0.05, 0.0, 150.0, "linear"]
    assert nodes["/vj/audio/angle/set"].value == ["onset", 3.0, 10.0, 200.0, "exponential"]
    assert nodes["/vj/audio/zoom/depth"].value == [pytest.approx(0.05)]
    assert nodes["/vj/audio/angle/offset"].value == [pytest.approx(-1.0)]
    assert nodes["/vj/audio/zoom/release_ms"].value == [150.0]
    assert nodes["/vj/audio/zoom/value"].value == [pytest.approx(0.025)]  # depth 0.05 × bass 0.5, no attack
    assert nodes["/vj/audio/meter/bass"].value == [pytest.approx(0.5)]
    assert nodes["/vj/audio/meter/onset"].value == [0.0]
    assert nodes["/vj/audio/onset"].value == ["none"]
    assert nodes["/vj/audio/zoom"].is_container is True
    assert "/vj/audio/strength/set" not in nodes  # only the loaded ones
    for path, node in nodes.items():  # each on its own, as a client browsing the tree asks
        if path.startswith("/vj/audio"):
            alone = client.query_node(path)
            assert alone is not None and alone.value == node.value
    status, everything = get(served.query, "/vj/audio")
    assert status == 200 and check_node(everything, "/vj/audio") == 1 + 5 + 2 * 6  # onset, meters, two modulators
    zoom = everything["CONTENTS"]["zoom"]
    depth = zoom["CONTENTS"]["depth"]
    assert (depth["TYPE"], depth["ACCESS"], depth["RANGE"], depth["UNIT"]) == ("f", 3, [{"MIN": -1.5, "MAX": 1.5}],
                                                                             ["x/frame"])
    assert zoom["CONTENTS"]["value"]["ACCESS"] == 1  # a meter: read-only
    assert zoom["CONTENTS"]["set"]["RANGE"][0]["VALS"] == ["bass", "mid", "high", "level", "onset", "off"]
    served.audio.remove("angle")
    assert get(served.query, "/vj/audio/angle")[0] == 404


def test_no_audio_modulators_no_audio_node() -> None:
    store = ParamStore()
    query = OscQueryServer(store, osc_host="127.0.0.1", osc_port=9000, http_port=0, advertise=False)
    query.start()
    try:
        assert get(query, "/vj/audio")[0] == 404  # OSC would answer 'unavailable' to every /vj/audio/...
        assert "audio" not in get(query, "/vj")[1]["CONTENTS"]
    finally:
        query.close()


def _writable(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if node.get("ACCESS") in (2, 3) and "TYPE" in node:
        yield node
    for child in node.get("CONTENTS", {}).values():
        yield from _writable(child)


def _another(tag: str, now: object, rng: dict[str, Any]) -> object:
    """An argument of the node's type, in its advertised range, different from the value now."""
    if tag == "s":
        return next(v for v in rng["VALS"] if v not in (now, "off"))
    lo, hi = rng["MIN"], rng["MAX"]
    assert isinstance(now, float)
    return (now + hi) / 2.0 if now < hi else (now + lo) / 2.0


def test_every_writable_audio_node_routes_over_udp_and_reads_back(served: Served) -> None:
    """Each advertised address, sent a new value of its TYPE and RANGE, is applied by the router
    (nothing rejected) and the tree then shows that value."""
    _, tree = get(served.query, "/vj/audio")
    writable = list(_writable(tree))
    assert len(writable) == 1 + 2 * 5  # the onset action, set / depth / offset / attack_ms / release_ms each
    client = SimpleUDPClient("127.0.0.1", served.osc.port)
    sent = 0
    for node in writable:
        path = node["FULL_PATH"]
        args = [_another(tag, now, rng) for tag, now, rng in zip(node["TYPE"], node["VALUE"], node["RANGE"],
                                                                  strict=True)]
        client.send_message(path, args)
        sent += 1
        wait_for(lambda: served.osc.counters.handled >= sent)  # noqa: B023 - awaited before sent moves on
        assert served.osc.counters.rejected_total() == 0, (path, args, served.osc.counters.rejected)
        _, after = get(served.query, path)
        assert after["VALUE"] == pytest.approx(args), path
    assert served.osc.counters.commands == sent


def test_the_advertised_range_is_the_range_the_router_keeps(served: Served) -> None:
    _, depth = get(served.query, "/vj/audio/zoom/depth")
    top = depth["RANGE"][0]["MAX"]
    client = SimpleUDPClient("127.0.0.1", served.osc.port)
    client.send_message("/vj/audio/zoom/depth", [top])
    client.send_message("/vj/audio/zoom/depth", [top * 1.01])
    client.send_message("/vj/audio/zoom/set", ["mid", -top * 2])
    client.send_message("/vj/audio/zoom/release_ms", [20000.0])
    wait_for(lambda: served.osc.counters.handled == 4)
    assert served.osc.counters.rejected == {"out_of_range": 3}
    zoom = served.audio.get("zoom")
    assert zoom is not None and (zoom.source, zoom.depth, zoom.release_ms) == ("bass", top, 150.0)


def test_listen_streams_an_audio_meter(served: Served) -> None:
    with connect(f"ws://127.0.0.1:{served.query.port}/") as ws:
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/audio/zoom/value"}))
        first = next_packet(ws)
        assert first.address == "/vj/audio/zoom/value" and first.params == [pytest.approx(0.025)]
        served.audio.step(features(1.0), 0.01)  # the sound gets louder: the modulator follows at once
        louder = next_packet(ws)
        assert louder.params == [pytest.approx(0.05)]
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/audio/meter/bass"}))
        meter = next_packet(ws)
        assert meter.address == "/vj/audio/meter/bass" and meter.params == [pytest.approx(1.0)]


def test_vj_run_shows_the_preset_audio_modulators_in_the_tree_and_on_the_page(tiny_backend) -> None:  # noqa: ANN001
    """`vj run`'s wiring: the session's own audio modulators reach OSCQuery and the page."""
    from tests.conftest import TINY_PRESET
    from vj.cli.main import build_parser
    from vj.cli.run import attach_run_components
    from vj.config import parse_preset
    from vj.session import LiveSession
    from vj.session.controls import _OscQueryAfterOsc
    from vj.web.server import WebServer

    preset = parse_preset(TINY_PRESET + "\n[modulators.audio.zoom]\nsource = \"mid\"\ndepth = 0.04\n", "tiny.toml")
    session = LiveSession(preset, backend=tiny_backend)
    attach_run_components(session, build_parser().parse_args(
        ["run", "tiny.toml", "--osc-port", "0", "--oscquery-port", "0", "--no-zeroconf"]))
    session.start()
    try:
        osc = next(c for c in session.controls if isinstance(c, OscControl))
        query = next(c for c in session.controls if isinstance(c, _OscQueryAfterOsc)).query
        web = next(c for c in session.controls if isinstance(c, WebServer))
        assert get(query, "/vj/audio/zoom/set")[1]["VALUE"] == ["mid", 0.04, 10.0, 200.0, "linear"]
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/vj/audio/zoom/depth", [0.09375])  # exact in float32
        wait_for(lambda: (m := session.audio.get("zoom")) is not None and m.depth == 0.09375)
        assert get(query, "/vj/audio/zoom/depth")[1]["VALUE"] == [0.09375]
        with connect(f"ws://127.0.0.1:{web.port}/ws") as ws:
            state = json.loads(ws.recv(timeout=5))["state"]
            assert state["audio"]["mods"]["zoom"]["depth"] == 0.09375
            ws.send(json.dumps({"audio": {"param": "zoom", "off": True}}))
            wait_for(lambda: session.audio.get("zoom") is None)
        assert get(query, "/vj/audio/zoom")[0] == 404
    finally:
        session.stop()
