"""The web control surface over real WebSockets on loopback (the `websockets` client library).

The show around the server is real (store, tempo clock, quantiser, LFO bank, preset switcher
loading the shipped presets, MIDI mapper for learn); only the engine is left out: these tests
take the store's snapshots themselves, as the render thread would.
"""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import numpy as np
import pytest
from PIL import Image
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.helpers import wait_for
from vj.config import PresetConfig
from vj.control.commands import ShowActions
from vj.control.midi.mapper import MidiMapper
from vj.control.midi.mapping_file import MidiMapping
from vj.control.modulators import ModulatorBank
from vj.control.tempo import Quantise, Quantiser, TempoClock
from vj.frames import Frame
from vj.preset_files import list_presets, load_preset
from vj.registry import unused_slots
from vj.session.presets import PresetSwitcher
from vj.store import ControlEvent, ParamStore
from vj.web.context import RecordInfo, WebContext
from vj.web.preview import PreviewSlot
from vj.web.protocol import MAX_MESSAGE_CHARS
from vj.web.server import MAX_FRAME_BYTES, WebServer


@dataclass
class Show:
    """The parts of a live session the web surface drives, minus the engine."""

    store: ParamStore
    tempo: TempoClock
    quantiser: Quantiser
    modulators: ModulatorBank
    preset: PresetConfig
    applied: list[str] = field(default_factory=list)
    recording: list[bool] = field(default_factory=list)
    frame: int = 0

    def apply_preset(self, preset: PresetConfig) -> None:
        self.preset = preset
        self.applied.append(preset.name)

    def snapshot(self) -> tuple[ControlEvent, ...]:
        self.frame += 1
        return self.store.snapshot(self.frame, self.frame / 24, 1 / 24).events


def make_show() -> tuple[Show, WebContext, MidiMapper]:
    preset = load_preset("zoom-tunnel")
    store = ParamStore(base=preset.params, prompts=preset.prompts.to_mix())
    tempo = TempoClock(120.0)
    quantiser = Quantiser(tempo)
    show = Show(store, tempo, quantiser, ModulatorBank(store, tempo), preset)
    switcher = PresetSwitcher(show, quantiser)
    mapper = MidiMapper(MidiMapping(name="test"), store)
    actions = ShowActions(preset=lambda name: switcher.by_name(name, allow_paths=False), tempo=tempo,
                          quantiser=quantiser, modulators=show.modulators, record=show.recording.append,
                          learn=mapper.learn)
    ctx = WebContext(store=store, actions=actions, preset_names=lambda: [p.stem for p in list_presets()],
                     playing_preset=lambda: show.preset.name, scheduled=lambda: tuple(show.preset.schedules),
                     record_info=lambda: RecordInfo(True, bool(show.recording and show.recording[-1]), "t.mkv", 1),
                     learning=lambda: mapper.learning,
                     status=lambda: {"fps": 24.0, "frames": show.frame, "line": "status"})
    return show, ctx, mapper


@pytest.fixture
def served() -> Iterator[tuple[Show, WebServer]]:
    show, ctx, _ = make_show()
    server = WebServer(ctx, port=0, preview=PreviewSlot(), values_hz=20.0, status_hz=5.0, preview_fps=10.0)
    server.start()
    yield show, server
    server.close()
    show.quantiser.close()


def ws_url(server: WebServer, token: str | None = None) -> str:
    return f"ws://127.0.0.1:{server.port}/ws" + (f"?token={token}" if token else "")


def receive_until(ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], timeout_s: float = 5.0) -> dict:
    """JSON messages until one satisfies `pred` (binary preview frames are skipped)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching message in time")
        data = ws.recv(timeout=left)
        if isinstance(data, str):
            message = json.loads(data)
            if pred(message):
                return message



def errors(ws: ClientConnection, n: int) -> list[str]:
    return [receive_until(ws, lambda m: "error" in m)["error"]["reason"] for _ in range(n)]


def test_connect_gets_the_whole_state(served: tuple[Show, WebServer]) -> None:
    show, server = served
    with connect(ws_url(server)) as ws:
        state = receive_until(ws, lambda m: "state" in m)["state"]
    groups = {g["group"]: [p["name"] for p in g["params"]] for g in state["params"]}
    assert "zoom" in groups["motion"] and "strength" in groups["diffusion"] and "seed" in groups["seeds"]
    zoom = next(p for g in state["params"] for p in g["params"] if p["name"] == "zoom")
    assert (zoom["min"], zoom["max"], zoom["unit"]) == (0.5, 2.0, "x/frame")
    border = next(p for g in state["params"] for p in g["params"] if p["name"] == "border")
    assert border["choices"] == ["replicate", "reflect", "wrap", "zeros"]
    assert "spiral" in state["presets"] and state["preset"] == show.preset.name
    assert state["prompts"]["entries"][0]["text"] == show.store.prompts().entries[0].text
    assert state["quantise"] == "off" and state["tempo"]["bpm"] == 120.0
    assert state["record"]["available"] is True and state["learn"]["available"] is True


def test_the_page_gets_sliders_only_for_the_slots_the_show_loaded() -> None:
    show, ctx, _ = make_show()
    full = WebServer(ctx, port=0, preview=PreviewSlot())
    ctx = dataclasses.replace(ctx, hidden=unused_slots(loras=1, controlnets=2))
    server = WebServer(ctx, port=0, preview=PreviewSlot())
    full.start()
    server.start()
    try:
        with connect(ws_url(server)) as ws, connect(ws_url(full)) as ws_full:
            groups = _groups(receive_until(ws, lambda m: "state" in m)["state"])
            every = _groups(receive_until(ws_full, lambda m: "state" in m)["state"])
            assert groups["lora"] == ["lora_0_scale"] and groups["controlnet"] == ["controlnet_0_scale",
                                                                                   "controlnet_1_scale"]
            assert len(every["lora"]) == 4 and len(every["controlnet"]) == 4  # nothing hidden: every slot
            assert "controlnet_scale" in groups["diffusion"]
            ws.send(json.dumps({"set": {"controlnet_3_scale": 0.5}}))  # a hidden slot is still a parameter
            wait_for(lambda: show.store.target("controlnet_3_scale") == 0.5)
    finally:
        server.close()
        full.close()
        show.quantiser.close()


def _groups(state: dict[str, Any]) -> dict[str, list[str]]:
    return {g["group"]: [p["name"] for p in g["params"]] for g in state["params"]}


def test_writes_land_in_the_store_with_source_web(served: tuple[Show, WebServer]) -> None:
    show, server = served
    with connect(ws_url(server)) as ws:
        ws.send(json.dumps({"set": {"zoom": 1.05, "border": "wrap"}}))
        ws.send(json.dumps({"prompt": {"slot": 2, "text": "a red moon over the sea", "weight": 0.5}}))
        ws.send(json.dumps({"negative": "grey"}))
        wait_for(lambda: show.store.prompts().negative == "grey")
    assert show.store.live_overrides() == {"zoom": 1.05, "border": "wrap"}
    entry = show.store.prompts().entries[2]
    assert (entry.text, entry.weight) == ("a red moon over the sea", 0.5)
    events = show.snapshot()
    assert ControlEvent("set", "zoom", 1.05, "web") in events
    assert ControlEvent("prompt", "2", "a red moon over the sea", "web") in events
    assert ControlEvent("prompt_weight", "2", 0.5, "web") in events
    assert ControlEvent("negative", "", "grey", "web") in events
    with connect(ws_url(server)) as ws:
        ws.send(json.dumps({"release": "zoom"}))
        wait_for(lambda: "zoom" not in show.store.live_overrides())
    assert ControlEvent("release", "zoom", None, "web") in show.snapshot()


def test_prompt_text_waits_for_the_bar_when_quantise_is_on(served: tuple[Show, WebServer]) -> None:
    show, server = served
    show.tempo.set_bpm(300.0)  # a bar is 0.8 s
    with connect(ws_url(server)) as ws:
        ws.send(json.dumps({"quantise": "bar"}))
        wait_for(lambda: show.quantiser.mode is Quantise.BAR)
        ws.send(json.dumps({"prompt": {"slot": 0, "text": "on the downbeat"}}))
        wait_for(lambda: show.quantiser.pending() == 1)
        assert show.store.prompts().entries[0].text != "on the downbeat"  # not yet: it waits for the bar
        wait_for(lambda: show.store.prompts().entries[0].text == "on the downbeat", timeout_s=3.0)


def test_commands_tempo_lfo_preset_record_learn(served: tuple[Show, WebServer]) -> None:
    show, server = served
    with connect(ws_url(server)) as ws:
        for message in ({"bpm": 128}, {"lfo": {"param": "angle", "shape": "triangle", "rate": 2, "depth": 3}},
                        {"preset": "spiral"}, {"record": True}, {"learn": "strength"}):
            ws.send(json.dumps(message))
        state = receive_until(ws, lambda m: "state" in m and m["state"].get("learn", {}).get("learning")
                              == "strength")["state"]
        assert show.tempo.bpm == 128.0
        lfo = show.modulators.get("angle")
        assert lfo is not None and (lfo.shape.value, lfo.rate, lfo.depth) == ("triangle", 2.0, 3.0)
        assert show.applied == ["spiral"] and show.recording == [True]
        ws.send(json.dumps({"lfo": {"param": "angle", "off": True}}))
        receive_until(ws, lambda m: "state" in m and m["state"].get("lfos") == {})
        for _ in range(3):  # taps half a second apart: 120 bpm
            ws.send(json.dumps({"tap": True}))
            time.sleep(0.5)
        wait_for(lambda: show.tempo.source == "tap")
        assert 100 < show.tempo.bpm < 140
    assert state["learn"] == {"available": True, "learning": "strength"}


def test_bad_messages_are_counted_answered_and_ignored(served: tuple[Show, WebServer]) -> None:
    show, server = served
    bad: list[str | bytes] = [
        "not json", "[1, 2]", "{}", '{"zoom": 1}', '{"set": {"zoom": 9.0}}', '{"set": {"zoom": "big"}}',
        '{"set": {"zoom": NaN}}', '{"set": {"nosuch": 1}}', '{"set": {"border": "mirror"}}',
        '{"prompt": {"slot": 8, "text": "x"}}', '{"prompt": {"slot": 0, "weight": -1}}',
        json.dumps({"prompt": {"slot": 0, "text": "x" * 1001}}), '{"preset": "/etc/passwd"}', '{"bpm": 5000}',
        '{"quantise": "sometimes"}', '{"lfo": {"param": "border", "shape": "sine"}}', '{"record": "yes"}',
        '{"learn": "no-such-target"}', "x" * (MAX_MESSAGE_CHARS + 1), b"\x00binary",
    ]
    expected = ["malformed", "malformed", "malformed", "unknown_message", "out_of_range", "wrong_type",
                "malformed", "unknown_param", "unknown_choice", "out_of_range", "out_of_range", "oversized",
                "refused",  # a preset name the switcher refuses: the reason OSC gives
                "out_of_range", "unknown_choice", "unknown_param", "wrong_type",
                "unknown_choice", "oversized", "wrong_type"]
    before = sum(show.store.counters.rejected.values())
    with connect(ws_url(server)) as ws:
        for message in bad:
            ws.send(message)
        assert errors(ws, len(bad)) == expected
        # the connection survived all of it, and a good write still lands
        ws.send(json.dumps({"set": {"zoom": 1.1, "angle": 99}}))  # the good entry applies, the bad one is counted
        assert errors(ws, 1) == ["out_of_range"]
        wait_for(lambda: show.store.live_overrides().get("zoom") == 1.1)
    counters = server.protocol.counters
    assert counters.rejected_total() == len(bad) + 1
    assert sum(show.store.counters.rejected.values()) - before == len(bad) + 1
    assert "angle" not in show.store.live_overrides()
    assert "bad 21" in server.status()


def test_a_frame_over_the_limit_closes_only_that_connection(served: tuple[Show, WebServer]) -> None:
    show, server = served
    with connect(ws_url(server)) as good, connect(ws_url(server), max_size=None) as hostile:
        hostile.send("x" * (MAX_FRAME_BYTES + 10))
        wait_for(lambda: server.protocol.counters.rejected["oversized"] == 1)
        with pytest.raises(Exception):  # noqa: B017 - closed by the server: any ConnectionClosed
            for _ in range(100):
                hostile.recv(timeout=5)
        good.send(json.dumps({"set": {"zoom": 1.2}}))
        wait_for(lambda: show.store.live_overrides().get("zoom") == 1.2)


def test_a_flood_is_rate_limited(served: tuple[Show, WebServer]) -> None:
    show, server = served
    with connect(ws_url(server)) as ws:
        for i in range(600):
            ws.send(json.dumps({"set": {"zoom": 1.0 + i / 10_000}}))
        wait_for(lambda: server.protocol.counters.messages + server.protocol.counters.rejected[
            "rate_limited"] >= 600)
    assert server.protocol.counters.rejected["rate_limited"] > 0


def test_several_pages_stay_in_sync_and_a_new_page_sees_the_current_state(served: tuple[Show, WebServer]) -> None:
    show, server = served
    with connect(ws_url(server)) as laptop, connect(ws_url(server)) as tablet:
        receive_until(tablet, lambda m: "values" in m)
        laptop.send(json.dumps({"set": {"zoom": 1.07}}))
        moved = receive_until(tablet, lambda m: "values" in m and m["values"]["targets"]["zoom"] == 1.07)
        assert moved["values"]["drivers"]["zoom"] == ["live"]
        tablet.send(json.dumps({"prompt": {"slot": 0, "text": "typed on the tablet"}}))
        prompts = receive_until(laptop, lambda m: "prompts" in m.get("state", {}) and "params" not in m["state"]
                                and m["state"]["prompts"]["entries"][0]["text"] == "typed on the tablet")["state"]
        assert prompts["history"][0] == "typed on the tablet"
    with connect(ws_url(server)) as again:  # a page that reconnects after a drop
        state = receive_until(again, lambda m: "state" in m)["state"]
        values = receive_until(again, lambda m: "values" in m)["values"]
    assert state["prompts"]["entries"][0]["text"] == "typed on the tablet"
    assert values["targets"]["zoom"] == 1.07


def test_preview_frames_are_scaled_jpegs_and_a_page_may_turn_them_off(served: tuple[Show, WebServer]) -> None:
    show, server = served
    assert server.preview is not None
    image = np.zeros((480, 640, 3), np.uint8)
    image[:, :320, 0] = 255  # left half red, right half black
    frame = Frame(0, 0.0, image, show.store.snapshot(0, 0.0, 0.0))
    with connect(ws_url(server)) as ws:
        server.preview.offer(frame)
        data = ws.recv(timeout=5)
        while isinstance(data, str):
            data = ws.recv(timeout=5)
        picture = Image.open(io.BytesIO(data))
        assert picture.format == "JPEG" and max(picture.size) == 384 and picture.size == (384, 288)
        r, g, b = picture.convert("RGB").getpixel((40, 100))  # type: ignore[misc]
        assert r > 200 and g < 60 and b < 60
        ws.send(json.dumps({"preview": False}))
        time.sleep(0.3)
        sent = server.frames_sent
        for _ in range(5):
            server.preview.offer(frame)
            time.sleep(0.15)
        assert server.frames_sent == sent


def test_a_page_that_does_not_read_is_dropped_and_the_others_go_on() -> None:
    show, ctx, _ = make_show()
    server = WebServer(ctx, port=0, preview=PreviewSlot(), values_hz=20.0, preview_fps=20.0,
                       preview_max_side=1024, send_queue=8, send_timeout_s=1.0)
    server.start()
    stop = threading.Event()
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8) for _ in range(2)]  # ~1 MB JPEGs

    def render() -> None:  # a render thread publishing as fast as it likes: offer never waits
        i = 0
        while not stop.is_set():
            server.preview.offer(Frame(i, 0.0, noise[i % 2], show.store.snapshot(i, 0.0, 0.0)))  # type: ignore[union-attr]
            i += 1
            time.sleep(0.02)

    thread = threading.Thread(target=render, daemon=True)
    thread.start()
    hostile = socket.create_connection(("127.0.0.1", server.port))
    hostile.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        hostile.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        with connect(ws_url(server), max_size=None) as good:
            good.send(json.dumps({"preview": False}))
            wait_for(lambda: server.dropped_clients == 1, timeout_s=30)
            good.send(json.dumps({"set": {"zoom": 1.3}}))
            receive_until(good, lambda m: "values" in m and m["values"]["targets"]["zoom"] == 1.3)
        assert len(server.clients) == 0 or all(not c.dropped for c in server.clients)
    finally:
        stop.set()
        thread.join(2)
        hostile.close()
        server.close()
        show.quantiser.close()


def _http(url: str, host: str | None = None) -> int:
    try:
        with urlopen(Request(url, headers={"Host": host} if host else {}), timeout=5) as response:
            return int(response.status)
    except HTTPError as err:
        return err.code


def test_token_required_when_asked_and_beyond_loopback() -> None:
    show, ctx, _ = make_show()
    assert WebServer(ctx, host="0.0.0.0").token is not None  # beyond loopback: a token by default
    assert WebServer(ctx, host="127.0.0.2").token is None  # all of 127/8 is loopback
    server = WebServer(ctx, host="127.0.0.2", port=0, require_token=True)
    server.start()
    try:
        token = server.token
        assert token and server.url.endswith(f"?token={token}")
        base = f"http://127.0.0.2:{server.port}"
        assert _http(base + "/") == 403
        assert _http(base + "/?token=wrong") == 403
        assert _http(base + f"/?token={token}") == 200
        assert _http(base + "/app.js") == 200  # the same script for every show: no secret in it
        for url in (f"ws://127.0.0.2:{server.port}/ws", f"ws://127.0.0.2:{server.port}/ws?token=nope"):
            with pytest.raises(InvalidStatus) as refused:
                connect(url)
            assert refused.value.response.status_code == 403
        with connect(f"ws://127.0.0.2:{server.port}/ws?token={token}") as ws:
            ws.send(json.dumps({"set": {"zoom": 1.4}}))
            wait_for(lambda: show.store.live_overrides().get("zoom") == 1.4)
    finally:
        server.close()
        show.quantiser.close()


def test_loopback_page_refuses_foreign_hosts_and_origins(served: tuple[Show, WebServer]) -> None:
    show, server = served
    base = f"http://127.0.0.1:{server.port}/"
    assert _http(base) == 200
    assert _http(base, host=f"evil.example:{server.port}") == 403  # DNS rebinding onto 127.0.0.1
    with pytest.raises(InvalidStatus):
        connect(ws_url(server), origin="http://evil.example")  # type: ignore[arg-type]
    with connect(ws_url(server), origin=f"http://127.0.0.1:{server.port}") as ws:  # type: ignore[arg-type]
        receive_until(ws, lambda m: "state" in m)


def test_port_in_use_is_one_clear_error() -> None:
    from vj.errors import DeviceNotConnected

    show, ctx, _ = make_show()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = WebServer(ctx, port=taken.getsockname()[1])
        with pytest.raises(DeviceNotConnected, match="--web-port"):
            server.start()
    show.quantiser.close()
