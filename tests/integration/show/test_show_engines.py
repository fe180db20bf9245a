"""`vj show`: two tiny engines, each a real `vj run` process, played as one show on loopback.

One show serves the whole module (two engines take a while to start on a shared 2-core
machine); the tests run in file order and the last ones stop it. Every wait is on a condition
with a generous deadline, never on a bare sleep.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pythonosc.udp_client import SimpleUDPClient

from tests.helpers import run_vj, wait_for
from vj.show.build import build_show
from vj.show.engine_process import EngineState
from vj.show.engine_state import fetch_tree, live_values
from vj.show.showfile import parse_show
from vj.show.supervisor import Show

START_S = 240.0  # two engines loading on a busy 2-core machine
SIZE = 64

SHOW = {
    "show": {"osc_port": 0, "zeroconf": False, "link": True, "model": "tiny"},
    "engines": {
        "left": {"preset": "drift", "width": SIZE, "height": SIZE, "ndi": True, "record": "left.mkv", "fps": 12.0},
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


def test_show_a_killed_engine_is_restarted_with_its_last_state_while_the_other_plays_on(show: Show) -> None:
    client = SimpleUDPClient("127.0.0.1", show.fanout.port)
    client.send_message("/vj/left/zoom", 1.031)
    client.send_message("/vj/left/prompt/0/text", "a lighthouse in a storm")
    wait_for(lambda: show.saved["left"].get("/vj/zoom") == [pytest.approx(1.031)]
             and show.saved["left"].get("/vj/prompt/0/text") == ["a lighthouse in a storm"], timeout_s=30, poll_s=0.2)
    left, right = show.engines["left"], show.engines["right"]
    old_pid = left.pid
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
    assert left.pid != old_pid and "died (signal SIGKILL)" not in left.note  # the note now tells of the restart
    assert left.note.startswith("restarted at") and "with its last state" in left.note
    wait_for(lambda: _value(show, "left", "/vj/zoom") == [pytest.approx(1.031)]
             and _value(show, "left", "/vj/prompt/0/text") == ["a lighthouse in a storm"]
             and _value(show, "left", "/vj/strength") == [pytest.approx(0.42)], timeout_s=30, poll_s=0.2)
    frames_now = left.frames
    wait_for(lambda: left.frames > frames_now, timeout_s=30, poll_s=0.2)


def test_show_stopped_every_take_replays(show: Show, tmp_path: Path) -> None:
    takes = {name: e.takes for name, e in show.engines.items()}
    assert [p.name for p in takes["left"]] == ["left.mkv", "left-restart1.mkv"]
    assert [p.name for p in takes["right"]] == ["right.mkv"]
    assert show.stop() == {"left": 0, "right": 0}
    for take in takes["left"] + takes["right"]:  # the SIGKILLed process's take too: the recording is crash-safe
        out = tmp_path / f"{take.stem}-replay.mp4"
        done = run_vj("render", "--replay", str(take.with_suffix(".jsonl")), "--out", str(out), "--model", "tiny",
                      timeout=300)
        assert done.returncode == 0, (take.name, done.stderr[-2000:])
        assert out.stat().st_size > 0
