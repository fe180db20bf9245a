"""OSC over real UDP on loopback: every address, bundles, bursts, fuzz, precedence."""

from __future__ import annotations

import logging
import math
import random
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from tests.helpers import wait_for
from vj.choices import LfoShape
from vj.control.commands import ShowActions
from vj.control.modulators import ModulatorBank
from vj.control.osc import OscControl, address_map
from vj.control.osc.server import MAX_HELD_BUNDLES, MAX_HELD_MESSAGES
from vj.control.tempo import Quantise, Quantiser, TempoClock
from vj.errors import DeviceNotConnected
from vj.store import ParamStore


class Harness:
    def __init__(self) -> None:
        self.store = ParamStore()
        self.tempo = TempoClock(120.0)
        self.quantiser = Quantiser(self.tempo)
        self.modulators = ModulatorBank(self.store, self.tempo)
        self.presets: list[str] = []
        self.records: list[bool] = []
        self.learned: list[str] = []
        actions = ShowActions(preset=self._preset, record=self.records.append, learn=self._learn,
                             tempo=self.tempo, modulators=self.modulators, quantiser=self.quantiser)
        self.osc = OscControl(self.store, port=0, actions=actions)
        self.osc.start()
        self.client = SimpleUDPClient("127.0.0.1", self.osc.port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def _preset(self, name: str) -> bool:
        self.presets.append(name)
        return True

    def _learn(self, target: str) -> bool:
        if target not in self.store.registry:
            return False
        self.learned.append(target)
        return True

    def send(self, address: str, *args: object) -> None:
        self.client.send_message(address, list(args) if args else [])

    def raw(self, data: bytes) -> None:
        self.sock.sendto(data, ("127.0.0.1", self.osc.port))

    def settle(self, messages: int | None = None, datagrams: int | None = None) -> None:
        c = self.osc.counters
        if messages is not None:
            wait_for(lambda: c.messages >= messages)
        if datagrams is not None:
            wait_for(lambda: c.datagrams >= datagrams)
        # Counters move as a datagram is parsed; its writes and log lines follow. Wait for those too.
        wait_for(lambda: c.handled == c.datagrams)

    def close(self) -> None:
        self.osc.close()
        self.quantiser.close()
        self.sock.close()


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.close()


def balanced(h: Harness) -> bool:
    c = h.osc.counters
    not_malformed = c.rejected_total() - c.rejected["malformed"]
    return c.messages == c.applied + c.unchanged + c.commands + not_malformed


def test_parameter_addresses_in_units_and_norm(h: Harness) -> None:
    h.send("/vj/zoom", 1.05)
    h.send("/vj/angle/norm", 0.75)  # -45..45 -> 22.5
    h.send("/vj/steps", 3)
    h.send("/vj/border", "wrap")
    h.send("/vj/noise_type", 1)  # enum index
    h.send("/vj/seed", 1234)
    h.settle(messages=6)
    live = h.store.live_overrides()
    assert live["zoom"] == pytest.approx(1.05)
    assert live["angle"] == pytest.approx(22.5)
    assert live["steps"] == 3
    assert live["border"] == "wrap"
    assert live["noise_type"] == "perlin"
    assert live["seed"] == 1234
    assert h.osc.counters.applied == 6 and balanced(h)


def test_prompt_negative_and_weights(h: Harness) -> None:
    h.send("/vj/prompt/0", "a neon forest")
    h.send("/vj/prompt/2", "ink in water")
    h.send("/vj/prompt/2/weight", 0.4)
    h.send("/vj/negative", "blurry")
    h.settle(messages=4)
    mix = h.store.prompts()
    assert mix.entries[0].text == "a neon forest" and mix.entries[0].weight == 1.0
    assert mix.entries[2].text == "ink in water" and mix.entries[2].weight == pytest.approx(0.4)
    assert mix.negative == "blurry"
    assert balanced(h)


def test_commands_preset_release_record_tap_bpm_learn_lfo(h: Harness) -> None:
    h.send("/vj/zoom", 1.1)
    h.send("/vj/release", "zoom")
    h.send("/vj/preset", "tunnel")
    h.send("/vj/record", 1)
    h.send("/vj/record", 0)
    h.send("/vj/bpm", 128.0)
    h.send("/vj/learn", "strength")
    h.send("/vj/lfo/angle", "triangle", 2.0, 5.0)
    h.send("/vj/lfo/angle/depth", 3.0)
    h.settle(messages=9)
    assert "zoom" not in h.store.live_overrides()
    assert h.presets == ["tunnel"]
    assert h.records == [True, False]
    assert h.tempo.bpm == pytest.approx(128.0)
    assert h.learned == ["strength"]
    lfo = h.modulators.get("angle")
    assert lfo is not None and lfo.shape is LfoShape.TRIANGLE and lfo.rate == 2.0 and lfo.depth == 3.0
    # taps 0.25 s apart set 240 bpm
    h.tempo.set_bpm(90.0)
    for _ in range(3):
        h.send("/vj/tap")
        time.sleep(0.25)
    h.settle(messages=12)
    assert h.tempo.bpm == pytest.approx(240.0, abs=12.0)
    h.send("/vj/lfo/angle", "off")
    h.settle(messages=13)
    assert h.modulators.get("angle") is None
    assert h.osc.counters.rejected_total() == 0 and balanced(h)


def test_quantised_prompt_lands_on_the_next_beat(h: Harness) -> None:
    h.tempo.set_bpm(240.0)  # a beat every 0.25 s
    h.send("/vj/quantise", "beat")
    h.settle(messages=1)
    h.send("/vj/prompt/0", "on the beat")
    h.settle(messages=2)
    assert h.store.prompts().entries == ()  # waiting for the beat
    wait_for(lambda: bool(h.store.prompts().entries), timeout_s=1.0)
    landed = h.tempo.beat_at(h.tempo.now())
    assert landed - math.floor(landed) < 0.2  # just after a beat boundary
    h.send("/vj/seed", 777)  # seeds are discrete changes too
    h.send("/vj/zoom", 1.2)  # continuous values are never held back
    h.settle(messages=4)
    assert h.store.live_overrides() == {"zoom": pytest.approx(1.2)}
    wait_for(lambda: h.store.live_overrides().get("seed") == 777, timeout_s=1.0)
    assert balanced(h)


def test_bad_input_is_counted_per_reason_and_server_keeps_serving(h: Harness) -> None:
    h.send("/vj/nope", 1.0)  # unknown_address
    h.send("/other/zoom", 1.0)  # unknown_address
    h.send("/vj/zoom", 1.0, 2.0)  # wrong_count
    h.send("/vj/zoom", "fast")  # wrong_type
    h.send("/vj/zoom", float("nan"))  # not_finite
    h.send("/vj/zoom", float("inf"))  # not_finite
    h.send("/vj/zoom", 7.0)  # out_of_range
    h.send("/vj/zoom/norm", 1.5)  # out_of_range
    h.send("/vj/prompt/0", "x" * 5000)  # oversized
    h.send("/vj/prompt/9", "too far")  # out_of_range
    h.send("/vj/record", 5)  # wrong_type
    h.send("/vj/seed", 1.5)  # wrong_type
    h.raw(b"garbage that is not osc")  # malformed
    h.raw(b"/vj/zoom\x00\x00\x00\x00,f\x00\x00\x00\x00")  # malformed: float cut short
    h.settle(datagrams=14)
    h.send("/vj/zoom", 1.2)
    h.settle(messages=13)
    r = h.osc.counters.rejected
    assert r["unknown_address"] == 2
    assert r["wrong_count"] == 1
    assert r["wrong_type"] == 3
    assert r["not_finite"] == 2
    assert r["out_of_range"] == 3
    assert r["oversized"] == 1
    assert r["malformed"] == 2
    assert h.store.live_overrides() == {"zoom": pytest.approx(1.2)}
    assert h.store.counters.rejected["malformed"] == 2  # the store's status counters see them too
    assert balanced(h)


def test_bad_input_logs_at_most_once_per_second_per_address(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vj.control.osc.server"):
        for _ in range(200):
            h.send("/vj/zoom", 99.0)
        h.send("/vj/angle", 99.0)
        h.settle(messages=201)
    lines = [r for r in caplog.records if r.name == "vj.control.osc.server"]
    assert len(lines) == 2
    assert h.osc.counters.rejected["out_of_range"] == 201


def test_bundle_lands_in_one_frame(h: Harness) -> None:
    """A render-like thread snapshots as fast as it can; every bundle's writes share one snapshot."""
    stop = threading.Event()
    snapshots = []

    def render() -> None:
        i = 0
        while not stop.is_set():
            snap = h.store.snapshot(i, time.perf_counter(), 0.001)
            if snap.events:
                snapshots.append(snap)
            i += 1

    t = threading.Thread(target=render, name="test-render")
    t.start()
    try:
        for k in range(60):
            b = OscBundleBuilder(IMMEDIATELY)
            for address, value in (("/vj/zoom", 1.0 + k / 1000), ("/vj/angle", k / 10), ("/vj/noise", k / 100)):
                m = OscMessageBuilder(address)
                m.add_arg(float(value))
                b.add_content(m.build())
            h.client.send(b.build())
        h.settle(messages=180)
        wait_for(lambda: h.osc.counters.applied + h.osc.counters.unchanged == 180)
    finally:
        stop.set()
        t.join(2)
    last = h.store.snapshot(10**6, time.perf_counter(), 0.001)  # whatever landed after the thread's last frame
    if last.events:
        snapshots.append(last)
    groups = [sorted(e.name for e in s.events if e.source == "osc") for s in snapshots]
    groups = [g for g in groups if g]
    changed = sum(len(g) for g in groups)
    assert changed == h.osc.counters.applied
    for g in groups:
        assert len(g) % 3 == 0 and g.count("zoom") == g.count("angle") == g.count("noise"), g
    assert h.osc.counters.bundles == 60 and balanced(h)


def test_a_bundle_with_prompts_lands_in_one_frame(h: Harness) -> None:
    """Prompt text, weight and values in one bundle: no snapshot sees part of the bundle."""
    stop = threading.Event()
    snapshots = []

    def render() -> None:
        i = 0
        while not stop.is_set():
            snapshots.append(h.store.snapshot(i, time.perf_counter(), 0.001))
            i += 1

    t = threading.Thread(target=render, name="test-render")
    t.start()
    try:
        for k in range(40):
            b = OscBundleBuilder(IMMEDIATELY)
            for address, value in (("/vj/prompt/1", f"scene {k}"), ("/vj/prompt/1/weight", 1 + k / 10),
                                   ("/vj/seed", k + 1000)):
                m = OscMessageBuilder(address)
                m.add_arg(value)
                b.add_content(m.build())
            h.client.send(b.build())
            if k % 10 == 9:  # let the render thread see some intermediate states even on a loaded machine
                wait_for(lambda seed=k + 1000: h.store.target("seed") == seed)
                taken = len(snapshots)
                wait_for(lambda taken=taken: len(snapshots) > taken)
        wait_for(lambda: h.store.target("seed") == 1039)
    finally:
        stop.set()
        t.join(2)
    seen = {(s.prompts.entries[1].text, s.prompts.entries[1].weight, s["seed"])
            for s in snapshots if len(s.prompts.entries) > 1}
    # Every snapshot that shows scene k also shows its weight and seed: nothing torn.
    assert len(seen) > 1
    for text, weight, seed in seen:
        k = int(text.split()[1])
        assert weight == pytest.approx(1 + k / 10, abs=1e-5) and seed == k + 1000, (text, weight, seed)


def test_burst_of_5000_messages_loses_nothing(h: Harness) -> None:
    n = 5000
    for i in range(n):
        h.send("/vj/strength", (i % 1000) / 1000 + (0.0005 if i == n - 1 else 0.0))
    h.settle(messages=n)
    c = h.osc.counters
    assert c.messages == n and c.datagrams == n
    assert c.rejected_total() == 0
    assert c.applied + c.unchanged == n
    assert h.store.live_overrides()["strength"] == pytest.approx(0.9995)


def test_burst_with_duplicates_counts_unchanged(h: Harness) -> None:
    for _ in range(1000):  # TouchDesigner resends every cook
        h.send("/vj/zoom", 1.01)
    h.settle(messages=1000)
    assert h.osc.counters.applied == 1 and h.osc.counters.unchanged == 999


def _valid_datagrams() -> list[bytes]:
    out = []
    for address, args in (("/vj/zoom", [1.05]), ("/vj/prompt/1", ["hello"]), ("/vj/angle/norm", [0.2])):
        m = OscMessageBuilder(address)
        for a in args:
            m.add_arg(a)
        out.append(m.build().dgram)
    b = OscBundleBuilder(IMMEDIATELY)
    m = OscMessageBuilder("/vj/noise")
    m.add_arg(0.3)
    b.add_content(m.build())
    out.append(b.build().dgram)
    return out


def test_fuzzed_datagrams_leave_the_server_alive_and_counting(h: Harness) -> None:
    rng = random.Random(1234)
    valid = _valid_datagrams()
    sent = 0
    pure_garbage = 0
    for i in range(1500):
        kind = i % 3
        if kind == 0:  # random bytes that cannot start an OSC packet
            data = bytes([rng.choice(b"abcXYZ\x00\xff")]) + rng.randbytes(rng.randrange(0, 64))
            pure_garbage += 1
        elif kind == 1:  # a valid packet with flipped / truncated bytes
            base = bytearray(rng.choice(valid))
            for _ in range(rng.randrange(1, 4)):
                base[rng.randrange(len(base))] = rng.randrange(256)
            data = bytes(base[: rng.randrange(1, len(base) + 1)])
        else:  # a bundle header with hostile element sizes
            data = b"#bundle\x00" + struct.pack(">Q", 1) + struct.pack(">i", rng.choice([-4, 0, 3, 4096]))
            data += rng.randbytes(rng.randrange(0, 16))
        h.raw(data)
        sent += 1
    h.settle(datagrams=sent)
    c = h.osc.counters
    assert c.datagrams == sent
    assert c.rejected["malformed"] >= pure_garbage + 500  # every hostile bundle is malformed too
    assert balanced(h)
    assert h.osc._thread is not None and h.osc._thread.is_alive()
    before = c.messages
    h.send("/vj/contrast", 1.5)
    h.settle(messages=before + 1)
    assert h.store.live_overrides()["contrast"] == pytest.approx(1.5)


def test_precedence_through_osc_base_schedule_live_release(h: Harness) -> None:
    h.store.set_base({"angle": 2.0})
    snap = h.store.snapshot(0, 0.0, 0.04)
    assert snap.num("angle") == pytest.approx(2.0)  # preset base
    h.store.set_schedule("angle", lambda frame: 10.0 + frame)  # schedule drives it
    assert h.store.target("angle", 5) == pytest.approx(15.0)
    h.send("/vj/angle", -20.0)
    h.settle(messages=1)
    assert h.store.target("angle", 5) == pytest.approx(-20.0)  # live overrides the schedule
    # smoothing: the first frame after the change glides rather than jumping
    t = 0.0
    last = h.store.snapshot(1, t, 0.04).num("angle")
    assert -20.0 < last < 11.0
    for i in range(2, 80):
        t += 0.04
        last = h.store.snapshot(i, t, 0.04).num("angle")
    assert last == pytest.approx(-20.0, abs=1e-3)
    h.send("/vj/release", "angle")
    h.settle(messages=2)
    assert h.store.target("angle", 20) == pytest.approx(30.0)  # back to the schedule underneath
    h.store.set_schedule("angle", None)
    assert h.store.target("angle", 20) == pytest.approx(2.0)  # and under that, the preset base


def test_future_bundle_timetag_is_applied_when_due(h: Harness) -> None:
    b = OscBundleBuilder(time.time() + 0.3)
    m = OscMessageBuilder("/vj/zoom")
    m.add_arg(1.3)
    b.add_content(m.build())
    h.client.send(b.build())
    h.settle(datagrams=1)
    assert "zoom" not in h.store.live_overrides()
    wait_for(lambda: "zoom" in h.store.live_overrides(), timeout_s=2.0)


def _future_bundle(seconds_ahead: float, messages: int) -> bytes:
    b = OscBundleBuilder(time.time() + seconds_ahead)
    for i in range(messages):
        m = OscMessageBuilder("/vj/zoom")
        m.add_arg(1.0 + i * 1e-4)
        b.add_content(m.build())
    return b.build().dgram


def test_future_bundles_are_held_up_to_a_count_and_the_rest_refused_and_counted(h: Harness) -> None:
    extra = 5
    for _ in range(MAX_HELD_BUNDLES + extra):
        h.raw(_future_bundle(45.0, 1))
    h.settle(datagrams=MAX_HELD_BUNDLES + extra)
    c = h.osc.counters
    assert h.quantiser.pending() == MAX_HELD_BUNDLES == c.held_bundles
    assert c.rejected["held_full"] == extra and c.messages == extra and balanced(h)
    assert "held_full 5" in h.osc.status()
    h.send("/vj/angle", 10.0)  # what is not held is applied as ever
    h.settle(messages=extra + 1)
    assert h.store.live_overrides()["angle"] == pytest.approx(10.0)


def test_future_bundles_hold_a_bounded_number_of_messages(h: Harness) -> None:
    per_bundle = MAX_HELD_MESSAGES // 2 + 1  # the second of these would pass the bound
    h.raw(_future_bundle(45.0, per_bundle))
    h.raw(_future_bundle(45.0, per_bundle))
    h.settle(datagrams=2)
    c = h.osc.counters
    assert c.held_bundles == 1 and c.held_messages == per_bundle and h.quantiser.pending() == 1
    assert c.rejected["held_full"] == per_bundle and balanced(h)


def test_a_held_bundle_frees_its_place_when_it_lands(h: Harness) -> None:
    h.raw(_future_bundle(0.3, 3))
    h.settle(datagrams=1)
    assert h.osc.counters.held_bundles == 1
    wait_for(lambda: "zoom" in h.store.live_overrides(), timeout_s=5.0)
    wait_for(lambda: h.osc.counters.held_bundles == 0 and h.osc.counters.held_messages == 0)
    assert h.osc.counters.messages == 3 and balanced(h)


def test_a_failing_action_is_counted_and_the_server_keeps_serving(h: Harness) -> None:
    def broken(on: bool) -> None:
        raise OSError("disk full")

    h.osc.actions.record = broken
    h.send("/vj/record", 1)
    h.send("/vj/zoom", 1.1)
    h.settle(messages=2)
    assert h.osc.counters.rejected["action_failed"] == 1
    assert h.store.live_overrides()["zoom"] == pytest.approx(1.1) and balanced(h)


def test_a_busy_port_is_a_clear_error(h: Harness) -> None:
    other = OscControl(ParamStore(), port=h.osc.port)
    with pytest.raises(DeviceNotConnected, match=f"cannot listen on udp://127.0.0.1:{h.osc.port}"):
        other.start()


def test_address_map_covers_every_parameter() -> None:
    addresses = {row.address for row in address_map()}
    store = ParamStore()
    for name in store.registry:
        assert f"/vj/{name}" in addresses and f"/vj/norm/{name}" in addresses
    for old_form in ("/vj/<param>/norm", "/vj/prompt/<i>", "/vj/lfo/<param>"):  # still routed, still listed
        assert old_form in addresses
    for extra in ("/vj/preset", "/vj/release", "/vj/record", "/vj/tap", "/vj/bpm", "/vj/negative"):
        assert extra in addresses


def test_status_shows_counters(h: Harness) -> None:
    h.send("/vj/nope", 1)
    h.settle(messages=1)
    assert f"osc :{h.osc.port} rx 1 bad 1 (unknown_address 1)" == h.osc.status()
    assert Quantise("bar") is Quantise.BAR


def test_tree_forms_and_older_forms_route_alike(h: Harness) -> None:
    """The OSCQuery tree's leaves (/vj/norm/<p>, /vj/prompt/<i>/text, /vj/lfo/<p>/set) and the older
    forms (/vj/<p>/norm, /vj/prompt/<i>, /vj/lfo/<p>) write the same things."""
    h.send("/vj/norm/angle", 0.75)
    h.send("/vj/prompt/1/text", "tree form")
    h.send("/vj/lfo/zoom/set", "sine", 4.0, 0.01)
    h.settle(messages=3)
    assert h.store.live_overrides()["angle"] == pytest.approx(22.5)
    assert h.store.prompts().entries[1].text == "tree form"
    assert h.modulators.get("zoom") is not None
    h.send("/vj/angle/norm", 0.25)
    h.send("/vj/prompt/1", "old form")
    h.send("/vj/lfo/zoom", "off")
    h.settle(messages=6)
    assert h.store.live_overrides()["angle"] == pytest.approx(-22.5)
    assert h.store.prompts().entries[1].text == "old form"
    assert h.modulators.get("zoom") is None
    assert h.osc.counters.rejected_total() == 0 and balanced(h)


def test_big_datagrams_and_nesting_limit_over_real_udp(h: Harness) -> None:
    """A valid 65,024-byte message is whole (oversized string, not malformed); bundles nest 8 levels."""
    b = OscMessageBuilder("/vj/prompt/0")
    b.add_arg("x" * 65_000)
    big = b.build().dgram
    assert len(big) == 65_024
    h.raw(big)
    h.settle(datagrams=1)
    assert h.osc.counters.rejected == {"oversized": 1}

    def nested(levels: int) -> bytes:
        msg = OscMessageBuilder("/vj/zoom")
        msg.add_arg(1.1 + levels / 100)
        data = msg.build().dgram
        for _ in range(levels):
            data = b"#bundle\x00" + struct.pack(">Q", 1) + struct.pack(">i", len(data)) + data
        return data

    h.raw(nested(8))
    h.settle(datagrams=2)
    assert h.store.live_overrides()["zoom"] == pytest.approx(1.18) and h.osc.counters.rejected["malformed"] == 0
    h.raw(nested(9))
    h.settle(datagrams=3)
    assert h.osc.counters.rejected["malformed"] == 1 and balanced(h)
