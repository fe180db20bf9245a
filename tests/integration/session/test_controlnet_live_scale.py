"""Per-unit ControlNet scales as live parameters on the tiny model (CPU): controlnet_<i>_scale 0
renders as no unit i, a live write to one unit's scale changes the picture and leaves the other
unit alone, a write to an empty slot is ignored with one log line, a real UDP
/vj/controlnet/<i>/scale reaches the store, and a show knows which slots it has nothing in."""

from __future__ import annotations

import http.client
import json
import logging
import time
from collections.abc import Callable

import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient
from websockets.sync.client import connect

from tests.helpers import CollectFrames
from vj.cli.main import build_parser
from vj.cli.run import attach_run_components
from vj.config import ControlNetConfig, ModelConfig, PresetConfig
from vj.control.commands import ShowActions
from vj.control.osc import OscControl
from vj.engine.backends import load_backend
from vj.engine.clock import FixedClock
from vj.engine.loop import Engine, EngineSettings
from vj.registry import MAX_LORAS, REFERENCE_PARAMS, controlnet_scale_name, lora_scale_name
from vj.session import LiveSession
from vj.session.controlnet import build_controlnets
from vj.session.presets import build_store
from vj.store import ParamStore

FRAMES = 3


def _preset(tiny_preset: PresetConfig, units: list[tuple[str, float]], **params: float) -> PresetConfig:
    model = ModelConfig(source="tiny", device="cpu", dtype="float32")
    controlnet = tuple(ControlNetConfig(source="tiny", conditioning=kind, scale=scale) for kind, scale in units)
    return tiny_preset.replace(model=model, controlnet=controlnet, params={**tiny_preset.params, **params})


def _engine(preset: PresetConfig) -> tuple[Engine, ParamStore]:
    backend = load_backend(preset.model)
    store = build_store(preset, backend)
    engine = Engine(backend, store, EngineSettings(64, 64, 24, offline=True), CollectFrames(), FixedClock(24),
                    controls=build_controlnets(preset, backend))
    engine.prime(preset.prompts.to_mix())
    return engine, store


def _frames(engine: Engine, n: int = FRAMES) -> list[np.ndarray]:
    out = []
    for _ in range(n):
        frame = engine.render_frame()
        assert frame is not None
        out.append(frame.image.astype(int))
    return out


def test_a_unit_at_scale_zero_renders_as_no_such_unit(tiny_preset: PresetConfig) -> None:
    # The table says 1; the live parameter (here the preset's own value) says 0.
    with_zero, _ = _engine(_preset(tiny_preset, [("canny", 1.0), ("feedback", 1.0)], controlnet_0_scale=0.0))
    without, _ = _engine(_preset(tiny_preset, [("feedback", 1.0)]))
    with_one, _ = _engine(_preset(tiny_preset, [("canny", 1.0), ("feedback", 1.0)]))
    zero, none, one = _frames(with_zero), _frames(without), _frames(with_one)
    assert np.abs(one[-1] - none[-1]).mean() > 0.5  # unit 0 at scale 1 shows in the picture
    for a, b in zip(zero, none, strict=True):
        assert np.array_equal(a, b)  # a zero weight adds exact zeros; the tiny units are the same weights
    assert with_zero.controls is not None and with_zero.controls.weights == (0.0, 1.0)


def test_a_unit_at_weight_zero_does_not_run_nor_make_its_picture(tiny_preset: PresetConfig,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from diffusers import ControlNetModel

    from vj.engine.warp.depth_estimator import DepthEstimator

    calls = {"controlnet": 0, "depth": 0}
    forward, nearness = ControlNetModel.forward, DepthEstimator.nearness

    def counted_forward(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - the real one, counted
        calls["controlnet"] += 1
        return forward(self, *args, **kwargs)

    def counted_nearness(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls["depth"] += 1
        return nearness(self, *args, **kwargs)

    monkeypatch.setattr(ControlNetModel, "forward", counted_forward)
    monkeypatch.setattr(DepthEstimator, "nearness", counted_nearness)
    faded, _ = _engine(_preset(tiny_preset, [("canny", 1.0), ("depth", 1.0)], controlnet_1_scale=0.0))
    only, _ = _engine(_preset(tiny_preset, [("canny", 1.0)]))
    calls.update(controlnet=0, depth=0)
    faded_frames = _frames(faded)
    assert calls["depth"] == 0  # the faded depth unit's picture was not made
    ran = calls["controlnet"]
    calls.update(controlnet=0)
    only_frames = _frames(only)
    assert ran == calls["controlnet"] > 0  # the faded depth unit ran no forward: as many as one unit alone
    for a, b in zip(faded_frames, only_frames, strict=True):
        assert np.array_equal(a, b)
    # Every unit at 0: the UNet gets zeros of the shapes it saw, and no ControlNet runs.
    silent, _ = _engine(_preset(tiny_preset, [("canny", 1.0), ("depth", 1.0)], controlnet_scale=0.0))
    plain, _ = _engine(_preset(tiny_preset, []))
    calls.update(controlnet=0, depth=0)
    silent_frames = _frames(silent)
    assert calls == {"controlnet": 1, "depth": 0}  # one forward, at weight 0, to learn the residual shapes
    for a, b in zip(silent_frames, _frames(plain), strict=True):
        assert np.array_equal(a, b)


def test_a_live_write_changes_one_unit_and_leaves_the_other(tiny_preset: PresetConfig) -> None:
    preset = _preset(tiny_preset, [("canny", 0.5), ("feedback", 1.0)], controlnet_scale=0.8)
    live, store = _engine(preset)
    steady, _ = _engine(preset)
    assert store.snapshot(0, 0.0, 0.0).params.controlnet_1_scale == 1.0  # the unit's scale is the base
    first, first_steady = _frames(live, 1), _frames(steady, 1)
    assert np.array_equal(first[0], first_steady[0])
    assert live.controls is not None and live.controls.weights == (pytest.approx(0.4), pytest.approx(0.8))
    assert store.set_many({"controlnet_1_scale": 0.1}, source="osc")
    moved, held = _frames(live), _frames(steady)
    assert np.abs(moved[-1] - held[-1]).mean() > 0.5
    unit0, unit1 = live.controls.weights
    assert unit0 == pytest.approx(0.5 * 0.8)  # untouched, still times the master gain
    assert 0.1 * 0.8 < unit1 < 0.5 * 0.8  # gliding down to the new scale (smoothed, as controlnet_scale)


def test_a_write_to_an_empty_slot_is_ignored_with_one_line(tiny_preset: PresetConfig,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    live, store = _engine(_preset(tiny_preset, [("feedback", 1.0)]))
    _frames(live, 1)
    caplog.set_level(logging.WARNING, logger="vj.engine.controlnet.scales")
    for scale in (0.5, 0.6, 0.7):
        store.set_many({"controlnet_2_scale": scale, "controlnet_0_scale": scale}, source="osc")
        _frames(live, 1)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "controlnet_2_scale" in lines[0] and "carries 1 ControlNet" in lines[0], lines
    assert live.controls is not None and len(live.controls.weights) == 1


def test_udp_controlnet_scale_reaches_the_store_and_out_of_range_is_counted() -> None:
    store = ParamStore()
    osc = OscControl(store, port=0, actions=ShowActions())
    osc.start()
    try:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/vj/controlnet/1/scale", 0.25)
        client.send_message("/vj/controlnet/0/scale", 3.0)  # out of range (0..2)
        client.send_message("/vj/controlnet/4/scale", 0.5)  # no such slot
        client.send_message("/vj/controlnet_3_scale", 1.5)  # the parameter's own address
        c = osc.counters

        deadline = time.monotonic() + 3.0
        while (c.datagrams < 4 or c.handled < c.datagrams) and time.monotonic() < deadline:
            time.sleep(0.002)
        assert store.live_overrides() == {"controlnet_1_scale": 0.25, "controlnet_3_scale": 1.5}
        assert c.rejected["out_of_range"] == 2
        assert c.applied == 2
    finally:
        osc.close()


def test_a_show_knows_its_empty_slots_and_a_switch_keeps_its_units(tiny_preset: PresetConfig,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    preset = _preset(tiny_preset, [("canny", 1.0), ("feedback", 0.5)])
    session = LiveSession(preset, offline=True)
    try:
        assert session.unused_slots == {*map(lora_scale_name, range(MAX_LORAS)), controlnet_scale_name(2),
                                        controlnet_scale_name(3), *REFERENCE_PARAMS}  # no IP-Adapter either
        # the same units at other scales: the new scales become the bases
        session.apply_preset(_preset(tiny_preset, [("canny", 0.2), ("feedback", 0.3)]))
        assert session.store.target("controlnet_0_scale") == 0.2 and session.preset.controlnet[1].scale == 0.3
        # other units: the show's stay, at their scales, said once
        with caplog.at_level(logging.WARNING, logger="vj.session.live"):
            session.apply_preset(_preset(tiny_preset, [("depth", 1.5)]))
        assert "keeping the show's 2 unit(s)" in caplog.text
        assert session.store.target("controlnet_0_scale") == 0.2
        assert session.store.target("controlnet_1_scale") == 0.3
        session.apply_preset(tiny_preset.replace(model=preset.model))  # names none: the show's, silently
        assert len(session.preset.controlnet) == 2
    finally:
        session.stop()


def _wait_for(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_vj_run_shows_the_loaded_slots_and_osc_drives_a_unit(tiny_preset: PresetConfig) -> None:
    """The `vj run` wiring: OSCQuery and the page leave out the empty slots; OSC reaches the unit's weight."""
    session = LiveSession(_preset(tiny_preset, [("feedback", 1.0)]))
    args = build_parser().parse_args(["run", "tiny.toml", "--osc-port", "0", "--oscquery-port", "0",
                                      "--no-zeroconf"])
    attach_run_components(session, args)
    session.start()
    try:
        osc = next(c for c in session.controls if type(c).__name__ == "OscControl")
        query = next(c for c in session.controls if type(c).__name__ == "_OscQueryAfterOsc").query
        web = next(c for c in session.controls if type(c).__name__ == "WebServer")
        conn = http.client.HTTPConnection("127.0.0.1", query.port, timeout=5)
        for path, status in (("/vj/controlnet_0_scale", 200), ("/vj/controlnet_1_scale", 404),
                             ("/vj/lora_0_scale", 404)):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.status == status, path
        conn.close()
        with connect(f"ws://127.0.0.1:{web.port}/ws") as ws:
            while True:
                message = json.loads(ws.recv(timeout=5))
                if "state" in message:
                    break
        groups = {g["group"]: [p["name"] for p in g["params"]] for g in message["state"]["params"]}
        assert groups["controlnet"] == ["controlnet_0_scale"] and "lora" not in groups
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/vj/controlnet/0/scale", 0.0)
        controls = session.engine.controls
        assert controls is not None
        _wait_for(lambda: controls.weights[0] < 1e-3)  # glides down over the parameter's smoothing time
    finally:
        session.stop()
