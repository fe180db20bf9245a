"""The audio modulators on the control page, over a real WebSocket on loopback (the `websockets` client):
the page gets the audio group, its writes change the real modulators, the refusals match OSC's."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from tests.integration.control.test_oscquery_audio import features
from tests.integration.web.test_web_protocol import Show, errors, make_show, receive_until, ws_url
from vj.control.audio.modulators import AudioMod, AudioModulators
from vj.web.server import WebServer


@pytest.fixture
def served() -> Iterator[tuple[Show, AudioModulators, WebServer]]:
    show, ctx, _ = make_show()
    audio = AudioModulators(show.store, show.modulators)
    audio.assign("zoom", AudioMod("bass", 0.05, attack_ms=0.0))
    audio.step(features(0.5, mid=0.2), 0.01)
    ctx = dataclasses.replace(ctx, actions=dataclasses.replace(ctx.actions, audio=audio))
    server = WebServer(ctx, port=0, values_hz=20.0, status_hz=5.0)
    server.start()
    yield show, audio, server
    server.close()
    show.quantiser.close()


def test_the_page_gets_the_audio_group_and_its_meters(served: tuple[Show, AudioModulators, WebServer]) -> None:
    _, _, server = served
    with connect(ws_url(server)) as ws:
        state = receive_until(ws, lambda m: "state" in m)["state"]
        values = receive_until(ws, lambda m: "values" in m)["values"]
    audio = state["audio"]
    assert audio["available"] is True and audio["onset"] == "none"
    assert audio["sources"] == ["bass", "mid", "high", "level", "onset"]
    zoom = audio["mods"]["zoom"]
    assert (zoom["source"], zoom["depth"], zoom["curve"]) == ("bass", 0.05, "linear")
    assert zoom["ranges"]["depth"] == [-1.5, 1.5] and zoom["ranges"]["release_ms"] == [0.0, 10000.0]
    assert state["onset_actions"] == ["none", "next_prompt", "seed_step", "zoom_punch"]
    assert values["audio"]["levels"]["bass"] == 0.5 and values["audio"]["levels"]["mid"] == 0.2
    assert values["audio"]["offsets"]["zoom"] == pytest.approx(0.025)
    assert "audio" in values["drivers"]["zoom"]


def test_writes_from_the_page_change_the_modulators(served: tuple[Show, AudioModulators, WebServer]) -> None:
    _, audio, server = served
    with connect(ws_url(server)) as ws:
        receive_until(ws, lambda m: "state" in m)
        ws.send(json.dumps({"audio": {"param": "zoom", "depth": 0.3}}))  # the depth slider
        moved = receive_until(ws, lambda m: "audio" in m.get("state", {}))["state"]["audio"]
        assert moved["mods"]["zoom"]["depth"] == 0.3
        zoom = audio.get("zoom")
        assert zoom is not None and zoom.depth == 0.3 and zoom.source == "bass"
        ws.send(json.dumps({"audio": {"param": "zoom", "off": True}}))  # the on/off button
        off = receive_until(ws, lambda m: "audio" in m.get("state", {}))["state"]["audio"]
        assert off["mods"] == {} and audio.get("zoom") is None
        ws.send(json.dumps({"audio": {"param": "zoom", "source": "bass", "depth": 0.3, "offset": 0.0,
                                      "attack_ms": 0.0, "release_ms": 200.0, "curve": "linear"}}))  # on again
        on = receive_until(ws, lambda m: "audio" in m.get("state", {}))["state"]["audio"]
        assert on["mods"]["zoom"]["depth"] == 0.3 and audio.get("zoom") == AudioMod("bass", 0.3, attack_ms=0.0)
        ws.send(json.dumps({"audio": {"onset": "seed_step"}}))
        assert receive_until(ws, lambda m: "audio" in m.get("state", {}))["state"]["audio"]["onset"] == "seed_step"
        assert audio.onset.action == "seed_step"
    assert server.protocol.counters.rejected_total() == 0 and server.protocol.counters.commands == 4


def test_the_page_gets_the_refusals_osc_gives(served: tuple[Show, AudioModulators, WebServer]) -> None:
    _, audio, server = served
    with connect(ws_url(server)) as ws:
        receive_until(ws, lambda m: "state" in m)
        ws.send(json.dumps({"audio": {"param": "zoom", "depth": 1.6}}))  # past the span of 0.5..2
        ws.send(json.dumps({"audio": {"param": "angle", "depth": 1.0}}))  # nothing attached to angle
        ws.send(json.dumps({"audio": {"param": "border", "source": "bass"}}))  # a text parameter
        ws.send(json.dumps({"audio": {"param": "zoom", "source": "treble"}}))
        ws.send(json.dumps({"audio": {"onset": "explode"}}))
        assert errors(ws, 5) == ["out_of_range", "unavailable", "unknown_param", "unknown_choice", "unknown_choice"]
    zoom = audio.get("zoom")
    assert zoom is not None and zoom.depth == 0.05 and audio.onset.action == "none"


def test_without_audio_modulators_the_page_says_so() -> None:
    show, ctx, _ = make_show()
    server = WebServer(ctx, port=0)
    server.start()
    try:
        with connect(ws_url(server)) as ws:
            state = receive_until(ws, lambda m: "state" in m)["state"]
            assert state["audio"]["available"] is False
            ws.send(json.dumps({"audio": {"param": "zoom", "depth": 0.1}}))
            assert errors(ws, 1) == ["unavailable"]
    finally:
        server.close()
        show.quantiser.close()
