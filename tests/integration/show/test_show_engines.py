"""`vj show`: two tiny engines, each a real `vj run` process, played as one show on loopback.

One show serves the whole module (two engines take a while to start on a shared 2-core
machine); the tests run in file order and the last ones stop it. Every wait is on a condition
with a generous deadline, never on a bare sleep.
"""

from __future__ import annotations

import json
import shutil
import signal
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pythonosc.udp_client import SimpleUDPClient
from websockets.sync.client import connect

from tests.helpers import run_vj, wait_for
from vj.show.build import build_show
from vj.show.engine_process import EngineState
from vj.show.engine_state import fetch_tree, live_values
from vj.show.page import ShowPage
from vj.show.showfile import parse_show
from vj.show.supervisor import Show
from vj.show.tree import ShowTreeServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
START_S = 240.0  # two engines loading on a busy 2-core machine
SIZE = 64
OUTPUT_SIZES = {"vj-left": [128, 72], "vj-right": [SIZE, SIZE]}  # left asks for a wide screen; right keeps the render's

SHOW = {
    "show": {"osc_port": 0, "zeroconf": False, "link": True, "model": "tiny"},
    "engines": {
        "left": {"preset": "drift", "width": SIZE, "height": SIZE, "ndi": True, "record": "left.mkv", "fps": 12.0,
                 "output_size": "128x72"},
        "right": {"preset": "drift", "width": SIZE, "height": SIZE, "ndi": True, "record": "right.mkv", "fps": 12.0},
    },
}


@pytest.fixture(scope="module")
def show(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Show]:
    folder = tmp_path_factory.mktemp("show")
    # NDI discovery without mDNS: the engines' libndi asks 127.0.0.1 directly (as the NDI output tests do)
    (folder / "ndi-config.v1.json").write_text(json.dumps({"ndi": {"networks": {"ips": "127.0.0.1"}}}))
    patch = pytest.MonkeyPatch()
    patch.setenv("NDI_CONFIG_DIR", str(folder))
    patch.setenv("OMP_NUM_THREADS", "1")  # two engines share two cores
    patch.chdir(folder)  # the takes land here
    data = json.loads(json.dumps(SHOW))
    the_show = build_show(parse_show(data, "test-show.toml"), poll_s=0.5)
    the_show.start()
    try:
        wait_for(lambda: all(e.state is EngineState.PLAYING and e.frames > 0 for e in the_show.engines.values())
                 and set(the_show.saved) == {"left", "right"}, timeout_s=START_S, poll_s=0.2)
        yield the_show
    finally:
        if not the_show.fanout._stop.is_set():
            the_show.stop()
        patch.undo()


def _value(show: Show, engine: str, address: str) -> Any:
    e = show.engines[engine]
    return live_values(fetch_tree(e.host, e.ports.oscquery)).get(address)


def test_show_one_osc_message_reaches_both_engines_and_a_named_one_only_its_engine(show: Show) -> None:
    client = SimpleUDPClient("127.0.0.1", show.fanout.port)
    client.send_message("/vj/strength", 0.42)
    wait_for(lambda: all(_value(show, n, "/vj/strength") == [pytest.approx(0.42)] for n in ("left", "right")),
             timeout_s=30, poll_s=0.2)
    before = _value(show, "right", "/vj/noise")
    client.send_message("/vj/left/noise", 0.07)
    wait_for(lambda: _value(show, "left", "/vj/noise") == [pytest.approx(0.07)], timeout_s=30, poll_s=0.2)
    client.send_message("/vj/right/seed", 4242)  # a later message to the other engine: the first one has landed
    wait_for(lambda: _value(show, "right", "/vj/seed") == [4242], timeout_s=30, poll_s=0.2)
    assert _value(show, "right", "/vj/noise") == before
    assert show.fanout.counters.rejected == 0


def _wait_value(show: Show, engine: str, address: str, wanted: float) -> None:
    wait_for(lambda: _value(show, engine, address) == [pytest.approx(wanted, abs=1e-4)], timeout_s=30, poll_s=0.2)


def _control(show: Show, kind: type) -> Any:
    return next(c for c in show.controls if isinstance(c, kind))


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_show_oscquery_tree_holds_each_engines_tree_under_its_name(show: Show) -> None:
    tree = _control(show, ShowTreeServer)
    base = f"http://127.0.0.1:{tree.port}"
    root = _get(base + "/")
    engines = root["CONTENTS"]["vj"]["CONTENTS"]
    assert {"left", "right", "zoom", "strength"} <= set(engines)  # each engine's tree, and /vj/zoom for all
    assert engines["left"]["CONTENTS"]["zoom"]["FULL_PATH"] == "/vj/left/zoom"
    assert engines["right"]["CONTENTS"]["prompt"]["CONTENTS"]["0"]["CONTENTS"]["text"]["FULL_PATH"] == \
        "/vj/right/prompt/0/text"
    assert _get(base + "/?HOST_INFO")["OSC_PORT"] == show.fanout.port
    # an address read from the tree, sent to the show's OSC port, reaches that engine
    address = _get(base + "/vj/right/noise")["FULL_PATH"]
    SimpleUDPClient("127.0.0.1", show.fanout.port).send_message(address, 0.033)
    wait_for(lambda: _value(show, "right", "/vj/noise") == [pytest.approx(0.033)], timeout_s=30, poll_s=0.2)
    wait_for(lambda: _get(base + "/vj/right/noise?VALUE") == {"VALUE": [pytest.approx(0.033)]}, timeout_s=30,
             poll_s=0.2)
    with pytest.raises(urllib.error.HTTPError, match="404"):
        _get(base + "/vj/nobody/zoom")


def test_show_page_lists_both_engines_and_a_websocket_moves_each(show: Show) -> None:
    page = _control(show, ShowPage)
    with connect(f"ws://127.0.0.1:{page.port}/ws", open_timeout=10) as ws:
        state = json.loads(ws.recv(10))["show"]
        assert [e["name"] for e in state["engines"]] == ["left", "right"]
        assert {e["ndi"] for e in state["engines"]} == {"vj-left", "vj-right"}
        assert "strength" in {f["address"] for f in state["faders"]}
        ws.send(json.dumps({"set": {"engine": "left", "address": "strength", "value": 0.31}}))
        wait_for(lambda: _value(show, "left", "/vj/strength") == [pytest.approx(0.31)], timeout_s=30, poll_s=0.2)
        ws.send(json.dumps({"set": {"engine": "right", "address": "strength", "value": 0.52}}))
        wait_for(lambda: _value(show, "right", "/vj/strength") == [pytest.approx(0.52)], timeout_s=30, poll_s=0.2)
        assert _value(show, "left", "/vj/strength") == [pytest.approx(0.31)]
        rejected = page.rejected
        for bad in ("not json", json.dumps({"set": {"engine": "nobody", "address": "zoom", "value": 1}}),
                    json.dumps({"set": {"engine": "left", "address": "../zoom", "value": 1}}),
                    json.dumps({"set": {"engine": "*", "address": "zoom", "value": [1]}})):
            ws.send(bad)
        wait_for(lambda: page.rejected == rejected + 4, timeout_s=10)
        ws.send(json.dumps({"set": {"engine": "*", "address": "strength", "value": 0.42}}))
        wait_for(lambda: all(_value(show, n, "/vj/strength") == [pytest.approx(0.42)] for n in ("left", "right")),
                 timeout_s=30, poll_s=0.2)


@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian's chromium package is not installed")
def test_show_page_in_a_real_browser_moves_each_engine(show: Show) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
    page_server = _control(show, ShowPage)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("pageerror", lambda err: problems.append(str(err)))
        page.goto(page_server.url)
        sync_api.expect(page.locator("#conn")).to_have_text("live", timeout=20_000)
        for name in ("left", "right"):
            sync_api.expect(page.locator(f"#engine-{name} .state")).to_have_text("playing", timeout=20_000)
        for name, fraction in (("left", 0.2), ("right", 0.8)):  # a real mouse click on each engine's fader
            fader = page.locator(f"#fader-{name}-strength")
            box = fader.bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + fraction * box["width"], box["y"] + box["height"] / 2)
            wanted = float(fader.input_value())
            assert abs(wanted - fraction) < 0.1, wanted  # strength's range is 0..1
            _wait_value(show, name, "/vj/strength", wanted)
        assert _value(show, "left", "/vj/strength") != _value(show, "right", "/vj/strength")
        browser.close()
        assert not problems, problems


def _beat(show: Show, engine: str) -> tuple[float, float, float]:
    """The engine's beat, the moment it was read (mid-request, on the machine's monotonic clock) and the request's
    length."""
    e = show.engines[engine]
    before = time.perf_counter()
    beat = _get(f"http://{e.host}:{e.ports.oscquery}/vj/beat?VALUE")["VALUE"][0]
    after = time.perf_counter()
    return float(beat), (before + after) / 2, after - before


def test_show_engines_play_one_tempo_and_their_link_phases_agree(show: Show) -> None:
    left, right = show.engines["left"], show.engines["right"]
    wait_for(lambda: "link 1 peers" in left.status and "link 1 peers" in right.status, timeout_s=60, poll_s=0.2)
    SimpleUDPClient("127.0.0.1", show.fanout.port).send_message("/vj/left/bpm", 133.0)  # one engine's tempo ...
    wait_for(lambda: _value(show, "right", "/vj/bpm") == [pytest.approx(133.0, abs=0.01)],  # ... is every engine's
             timeout_s=30, poll_s=0.2)
    best: tuple[float, float] | None = None  # (phase difference in beats, how long the two reads took)
    for _ in range(30):
        beat_l, at_l, took_l = _beat(show, "left")
        beat_r, at_r, took_r = _beat(show, "right")
        difference = (beat_l - beat_r) - (at_l - at_r) * 133.0 / 60.0
        phase = (difference + 2.0) % 4.0 - 2.0  # Link keeps phase within the bar (quantum 4), not the beat count
        if best is None or took_l + took_r < best[1]:
            best = (phase, took_l + took_r)
    assert best is not None
    # the reads' own length bounds how well two clocks can be compared from outside
    assert abs(best[0]) < 0.05 + best[1] * 133.0 / 60.0, best


# Without mDNS (no Avahi here) a finder asks 127.0.0.1:5960, which every sending process listens on
# (SO_REUSEPORT): each connection reaches one of them. A new finder per try reaches either, so the
# probe opens finders until it has seen (and received from) each source it wants.
NDI_PROBE = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from cyndilib import Finder, Receiver, RecvBandwidth, RecvColorFormat, VideoRecvFrame
    from cyndilib.receiver import ReceiveFrameType

    def receive(finder, name):
        receiver = Receiver(color_format=RecvColorFormat.RGBX_RGBA, bandwidth=RecvBandwidth.highest)
        video = VideoRecvFrame()
        receiver.set_video_frame(video)
        receiver.set_source(finder.get_source(name))
        deadline = time.monotonic() + 20.0
        try:
            while time.monotonic() < deadline:
                if receiver.receive(ReceiveFrameType.recv_video, 100) & ReceiveFrameType.recv_video:
                    data = np.zeros(video.get_buffer_size(), np.uint8)
                    video.fill_p_data(data)
                    w, h = video.get_resolution()
                    rgbx = data.reshape(h, video.get_line_stride())[:, :w * 4].reshape(h, w, 4)
                    return {"size": [w, h], "std": float(rgbx[..., :3].std())}
        finally:
            receiver.disconnect()
        return None

    result = {"found": {}, "received": {}}
    for want in sys.argv[1].split(","):
        for attempt in range(16):
            finder = Finder()
            finder.open()
            deadline = time.monotonic() + 4.0
            name = None
            while time.monotonic() < deadline and name is None:
                finder.wait_for_sources(0.5)
                name = next((n for n in finder.get_source_names() if n.endswith(f"({want})")), None)
            if name is not None:
                result["found"][want] = name
                picture = receive(finder, name)
                if picture is not None:
                    result["received"][want] = picture
            finder.close()
            if want in result["received"]:
                break
    print("RESULT " + json.dumps(result))
""")


def test_show_each_engine_is_an_ndi_source_a_receiver_finds_and_decodes(show: Show, tmp_path: Path) -> None:
    pytest.importorskip("cyndilib", reason="cyndilib not installed (pip install 'vj[ndi]')")
    from tests.unit.output_helpers import run_ndi_probe

    result = run_ndi_probe(tmp_path, NDI_PROBE, "vj-left,vj-right", timeout_s=280)
    if not result["found"]:
        pytest.skip("NDI discovery found no source on 127.0.0.1: this sandbox cannot run NDI discovery")
    assert set(result["found"]) == {"vj-left", "vj-right"}, result
    for name in ("vj-left", "vj-right"):
        picture = result["received"][name]
        assert picture["size"] == OUTPUT_SIZES[name], result
        assert picture["std"] > 1.0, result  # a picture, not a flat field


def test_show_a_killed_engine_is_restarted_with_its_last_state_while_the_other_plays_on(show: Show) -> None:
    client = SimpleUDPClient("127.0.0.1", show.fanout.port)
    client.send_message("/vj/left/zoom", 1.031)
    client.send_message("/vj/left/prompt/0/text", "a lighthouse in a storm")
    wait_for(lambda: show.saved["left"].get("/vj/zoom") == [pytest.approx(1.031)]
             and show.saved["left"].get("/vj/prompt/0/text") == ["a lighthouse in a storm"], timeout_s=30, poll_s=0.2)
    strength = show.saved["left"]["/vj/strength"]
    left, right = show.engines["left"], show.engines["right"]
    old_pid = left.pid
    seen: list[tuple[str, str]] = []  # what the page said of the killed engine, message by message
    with connect(f"ws://127.0.0.1:{_control(show, ShowPage).port}/ws", open_timeout=10) as ws:

        def read_page() -> None:
            try:
                for text in ws:
                    engine = json.loads(text)["show"]["engines"][0]
                    seen.append((engine["state"], engine["note"]))
            except Exception:  # closed at the end of the test
                return

        threading.Thread(target=read_page, daemon=True).start()
        left.signal(signal.SIGKILL)
        # the other engine's frames never stop: its counter moves on at every look until the killed one plays again
        longest_still, last_frames, last_change = 0.0, right.frames, time.monotonic()
        deadline = time.monotonic() + START_S
        while not (left.restarts == 1 and left.state is EngineState.PLAYING):
            assert time.monotonic() < deadline, f"left was not restarted: {left.state} {left.note}"
            now = time.monotonic()
            if right.frames != last_frames:
                last_frames, last_change = right.frames, now
            longest_still = max(longest_still, now - last_change)
            assert right.state is EngineState.PLAYING and right.restarts == 0
            time.sleep(0.1)
        assert longest_still < 10.0, f"the other engine's frame count stood still for {longest_still:.1f} s"
        assert left.pid != old_pid
        assert left.note.startswith("restarted at") and "with its last state" in left.note
        wait_for(lambda: _value(show, "left", "/vj/zoom") == [pytest.approx(1.031)]
                 and _value(show, "left", "/vj/prompt/0/text") == ["a lighthouse in a storm"]
                 and _value(show, "left", "/vj/strength") == strength, timeout_s=30, poll_s=0.2)
        frames_now = left.frames
        wait_for(lambda: left.frames > frames_now, timeout_s=30, poll_s=0.2)
        wait_for(lambda: bool(seen) and seen[-1][1].startswith("restarted at"), timeout_s=10)
    assert any(state == "restarting" and "died (signal SIGKILL)" in note for state, note in seen), seen


def test_show_a_hung_engine_is_killed_and_restarted_while_the_other_plays_on(show: Show) -> None:
    left, right = show.engines["left"], show.engines["right"]
    right.signal(signal.SIGSTOP)  # the process hangs: it prints nothing more, its port stays open
    frames = left.frames
    wait_for(lambda: right.restarts == 1 and right.state is EngineState.PLAYING, timeout_s=START_S, poll_s=0.2)
    assert left.frames > frames and left.restarts == 1  # the other played on (and was not restarted again)
    assert right.note.startswith("restarted at")
    wait_for(lambda: _value(show, "right", "/vj/strength") == show.saved["right"]["/vj/strength"], timeout_s=30,
             poll_s=0.2)


def test_show_an_engine_stopped_cleanly_from_outside_is_not_restarted(show: Show) -> None:
    left, right = show.engines["left"], show.engines["right"]
    left.signal(signal.SIGTERM)  # someone stops it on purpose: it finishes its take and exits 0
    wait_for(lambda: left.state is EngineState.STOPPED, timeout_s=120, poll_s=0.2)
    assert left.last_exit == 0 and left.note.startswith("stopped (exit 0) at")
    frames = right.frames
    wait_for(lambda: right.frames > frames, timeout_s=30, poll_s=0.2)  # the other plays on
    assert left.restarts == 1 and left.runs == 2  # nothing started it again


@pytest.mark.timeout(1200)  # four takes of a few minutes each, re-rendered one after the other on 2 cores
def test_show_stopped_every_take_replays(show: Show, tmp_path: Path) -> None:
    takes = {name: e.takes for name, e in show.engines.items()}
    assert [p.name for p in takes["left"]] == ["left.mkv", "left-restart1.mkv"]
    assert [p.name for p in takes["right"]] == ["right.mkv", "right-restart1.mkv"]
    assert show.stop() == {"left": None, "right": 0}  # left was stopped already
    for take in takes["left"] + takes["right"]:  # the SIGKILLed process's take too: the recording is crash-safe
        out = tmp_path / f"{take.stem}-replay.mp4"
        done = run_vj("render", "--replay", str(take.with_suffix(".jsonl")), "--out", str(out), "--model", "tiny",
                      timeout=300)
        assert done.returncode == 0, (take.name, done.stderr[-2000:])
        assert out.stat().st_size > 0
