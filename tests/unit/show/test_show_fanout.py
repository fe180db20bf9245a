"""The show's OSC fan-out: routing by address, byte for byte, over real UDP on loopback; the restore bundle."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from tests.helpers import wait_for
from vj.show.engine_state import changed_values, live_values, restore_bundle
from vj.show.fanout import OscFanOut, Unroutable, route_datagram

ENGINES = ("left", "right")


def _message(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def _parsed(datagram: bytes) -> tuple[str, list[object]]:
    message = OscMessage(datagram)
    return message.address, list(message.params)


def test_an_address_for_all_reaches_every_engine_unchanged() -> None:
    datagram = _message("/vj/zoom", 1.05)
    assert route_datagram(datagram, ENGINES) == {"left": datagram, "right": datagram}


def test_an_engine_address_reaches_that_engine_only_with_its_own_address_and_the_same_arguments() -> None:
    routed = route_datagram(_message("/vj/right/prompt/0/text", "a red fox", 3, 0.5, True), ENGINES)
    assert list(routed) == ["right"]
    assert _parsed(routed["right"]) == ("/vj/prompt/0/text", ["a red fox", 3, 0.5, True])
    longer = route_datagram(_message("/vj/left/lfo/zoom/set", "sine", 4.0, 0.25), ENGINES)
    assert _parsed(longer["left"]) == ("/vj/lfo/zoom/set", ["sine", 4.0, 0.25])


@pytest.mark.parametrize(("datagram", "why"), [
    (b"hello", "not an OSC message"),
    (_message("/other/zoom", 1.0), "is not under /vj/"),
    (_message("/vj/left"), "names an engine but no address of it"),
    (b"#bundle\x00\x00", "a truncated bundle"),
    (b"#bundle\x00" + b"\x00" * 8 + b"\x00\x00\x00\x07abc", "a bundle element of a bad size"),
])
def test_what_cannot_be_routed_is_refused_saying_why(datagram: bytes, why: str) -> None:
    with pytest.raises(Unroutable, match=why):
        route_datagram(datagram, ENGINES)


def test_a_bundle_is_split_per_engine_keeping_its_timetag() -> None:
    builder = OscBundleBuilder(12345678)
    for address, value in (("/vj/zoom", 1.01), ("/vj/left/angle", 2.0), ("/vj/right/noise", 0.1)):
        builder.add_content(OscMessage(_message(address, value)))  # type: ignore[arg-type]
    routed = route_datagram(builder.build().dgram, ENGINES)
    for name, want in (("left", [("/vj/zoom", [1.01]), ("/vj/angle", [2.0])]),
                       ("right", [("/vj/zoom", [1.01]), ("/vj/noise", [0.1])])):
        bundle = OscBundle(routed[name])
        assert bundle.dgram[8:16] == routed[name][8:16] and routed[name][8:16] == builder.build().dgram[8:16]
        got = [(m.address, [pytest.approx(p) for p in m.params]) for m in bundle]
        assert got == want


@pytest.fixture
def engines() -> Iterator[dict[str, socket.socket]]:
    socks = {}
    for name in ENGINES:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(10.0)
        socks[name] = s
    yield socks
    for s in socks.values():
        s.close()


def test_show_osc_over_udp_reaches_both_engines_or_one(engines: dict[str, socket.socket]) -> None:
    targets = {name: ("127.0.0.1", s.getsockname()[1]) for name, s in engines.items()}
    fanout = OscFanOut(lambda: targets, port=0)
    fanout.start()
    try:
        client = SimpleUDPClient("127.0.0.1", fanout.port)
        client.send_message("/vj/strength", 0.4)
        assert {name: _parsed(s.recv(65536)) for name, s in engines.items()} == {
            "left": ("/vj/strength", [pytest.approx(0.4)]), "right": ("/vj/strength", [pytest.approx(0.4)])}
        client.send_message("/vj/right/seed", 7)
        assert _parsed(engines["right"].recv(65536)) == ("/vj/seed", [7])
        client.send_message("/nowhere", 1)
        wait_for(lambda: fanout.counters.rejected == 1)
        engines["left"].settimeout(0.2)
        with pytest.raises(TimeoutError):  # the engine-addressed message went to the right engine only
            engines["left"].recv(65536)
        assert fanout.counters.datagrams == 3 and fanout.counters.forwarded == 3
        assert fanout.status().endswith("rx 3 fwd 3 bad 1")
    finally:
        fanout.close()


TREE = {"FULL_PATH": "/", "CONTENTS": {"vj": {"FULL_PATH": "/vj", "CONTENTS": {
    "zoom": {"FULL_PATH": "/vj/zoom", "ACCESS": 3, "VALUE": [1.02]},
    "norm": {"FULL_PATH": "/vj/norm", "CONTENTS": {"zoom": {"FULL_PATH": "/vj/norm/zoom", "ACCESS": 3,
                                                            "VALUE": [0.5]}}},
    "bpm": {"FULL_PATH": "/vj/bpm", "ACCESS": 3, "VALUE": [120.0]},
    "tap": {"FULL_PATH": "/vj/tap", "ACCESS": 0},
    "preset": {"FULL_PATH": "/vj/preset", "ACCESS": 2, "VALUE": [""]},
    "lfo": {"FULL_PATH": "/vj/lfo", "CONTENTS": {"zoom": {"FULL_PATH": "/vj/lfo/zoom", "CONTENTS": {
        "set": {"FULL_PATH": "/vj/lfo/zoom/set", "ACCESS": 3, "VALUE": ["sine", 4.0, 0.01, 0.0]},
        "depth": {"FULL_PATH": "/vj/lfo/zoom/depth", "ACCESS": 3, "VALUE": [0.01]}}}}},
    "prompt": {"FULL_PATH": "/vj/prompt", "CONTENTS": {"0": {"FULL_PATH": "/vj/prompt/0", "CONTENTS": {
        "text": {"FULL_PATH": "/vj/prompt/0/text", "ACCESS": 3, "VALUE": ["a fox"]}}}}},
}}}}


def test_the_live_values_are_the_settable_leaves_and_a_restore_sends_what_differs() -> None:
    values = live_values(TREE)
    assert values == {"/vj/zoom": [1.02], "/vj/bpm": [120.0], "/vj/lfo/zoom/set": ["sine", 4.0, 0.01, 0.0],
                      "/vj/prompt/0/text": ["a fox"]}
    assert "/vj/bpm" not in live_values(TREE, with_tempo=False)  # Link owns the tempo
    fresh = {**values, "/vj/zoom": [1.0], "/vj/prompt/0/text": ["a preset's prompt"]}
    changed = changed_values(values, fresh)
    assert changed == {"/vj/zoom": [1.02], "/vj/prompt/0/text": ["a fox"]}
    bundle = OscBundle(restore_bundle({**changed, "/vj/lfo/zoom/set": ["sine", 4.0, 0.01, 0.0]}))
    got = [(m.address, m.params) for m in bundle]
    assert got[-1][0] == "/vj/lfo/zoom/set" and ("/vj/prompt/0/text", ["a fox"]) in got
    assert ("/vj/zoom", [pytest.approx(1.02)]) in [(a, [pytest.approx(p) for p in ps]) for a, ps in got]


def test_a_restore_not_read_back_is_sent_again_then_given_up_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    """A restarted engine's restore bundle that its tree does not read back (a datagram lost while the process
    was starting) is sent again, and after the last try the page's note says what did not come back."""
    from vj.show import supervisor
    from vj.show.engine_process import EnginePorts, EngineState
    from vj.show.showfile import parse_show

    clock = [100.0]
    monkeypatch.setattr(supervisor.time, "monotonic", lambda: clock[0])
    show = supervisor.Show(parse_show({"show": {"osc_port": 0}, "engines": {"a": {"preset": "drift"}}}),
                           ports=lambda file: {"a": EnginePorts(9000, 9001, 9002)})
    sent: list[bytes] = []
    monkeypatch.setattr(show, "send", lambda engine, payload: sent.append(payload))
    engine = show.engines["a"]
    engine.state = EngineState.PLAYING
    show.saved["a"] = {"/vj/zoom": [1.031], "/vj/prompt/0/text": ["a fox"]}
    started = {"/vj/zoom": [1.0], "/vj/prompt/0/text": ["a preset's prompt"]}
    show._restore(engine, started)
    assert len(sent) == 1
    gliding = {"/vj/zoom": [1.0309], "/vj/prompt/0/text": ["a fox"]}  # the smoothed zoom, nearly there: landed
    assert show._restore_landed(engine, gliding) and "a" not in show._restoring

    show._restore(engine, started)  # again, and this time nothing comes back
    for _ in range(supervisor.RESTORE_TRIES - 1):
        assert not show._restore_landed(engine, started)  # too soon to tell: nothing sent
        clock[0] += supervisor.RESTORE_CHECK_S
        assert not show._restore_landed(engine, started)  # not read back: sent again
    assert len(sent) == 2 + supervisor.RESTORE_TRIES - 1
    assert show.saved["a"]["/vj/zoom"] == [1.031]  # kept while it is being put back
    clock[0] += supervisor.RESTORE_CHECK_S
    assert show._restore_landed(engine, started) and "a" not in show._restoring  # given up
    assert engine.note.endswith("2 values did not come back")
