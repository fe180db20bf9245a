"""A LoRA's scale as a live parameter on the tiny model: a store write (what OSC and MIDI do)
lands at the next frame exactly as that scale from the start would, 0 equals no LoRA, release
returns to the preset's scale, and a real UDP /vj/lora/0/scale reaches the store."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from pythonosc.udp_client import SimpleUDPClient

from tests.helpers import CollectFrames
from vj.config import LoraConfig, ModelConfig, PresetConfig
from vj.control.commands import ShowActions
from vj.control.osc import OscControl
from vj.engine.backends import load_backend
from vj.engine.backends.lora import FusedLoras, LoraSpec
from vj.engine.clock import FixedClock
from vj.engine.families.models.tiny import build_tiny_pipeline
from vj.engine.loop import Engine, EngineSettings
from vj.session.presets import build_store
from vj.store import ParamStore

pytest.importorskip("peft")


def _preset(tiny_preset: PresetConfig, lora_file: Path | None, scale: float) -> PresetConfig:
    loras = (LoraConfig(source=str(lora_file), scale=scale),) if lora_file is not None else ()
    model = ModelConfig(source="tiny", device="cpu", dtype="float32", loras=loras)
    return tiny_preset.replace(model=model)


def _engine(preset: PresetConfig) -> tuple[Engine, ParamStore]:
    backend = load_backend(preset.model)
    store = build_store(preset, backend)
    engine = Engine(backend, store, EngineSettings(64, 64, 24, offline=True), CollectFrames(), FixedClock(24))
    engine.prime(preset.prompts.to_mix())
    return engine, store


def _frame(engine: Engine) -> np.ndarray:
    frame = engine.render_frame()
    assert frame is not None
    return frame.image.astype(int)


def _unet_out(unet: object) -> torch.Tensor:
    torch.manual_seed(5)
    x, context = torch.randn(1, 4, 8, 8), torch.randn(1, 77, 32)
    with torch.no_grad():
        return unet(x, torch.tensor(500), encoder_hidden_states=context).sample  # type: ignore[operator]


def test_a_live_scale_renders_as_that_scale_from_the_start(lora_file: Path, tiny_preset: PresetConfig) -> None:
    live, store = _engine(_preset(tiny_preset, lora_file, 1.0))
    assert store.snapshot(0, 0.0, 0.0).params.lora_0_scale == 1.0  # the preset's scale is the base
    assert store.set_many({"lora_0_scale": 0.3}, source="osc")
    got = _frame(live)
    from_start, _ = _engine(_preset(tiny_preset, lora_file, 0.3))
    expected = _frame(from_start)
    at_one, _ = _engine(_preset(tiny_preset, lora_file, 1.0))
    assert np.abs(_frame(at_one) - expected).max() > 2  # the scale shows in the picture
    assert np.abs(got - expected).max() <= 1
    assert live.backend.loras.scales == [0.3]
    # mid-show: the next frame's UNet runs the weights a fresh fuse at 0.7 would
    store.set_many({"lora_0_scale": 0.7}, source="osc")
    _frame(live)
    fresh = build_tiny_pipeline()
    FusedLoras(fresh, [LoraSpec(str(lora_file), 0.7)])
    torch.testing.assert_close(_unet_out(live.backend.unet), _unet_out(fresh.unet), atol=1e-5, rtol=1e-5)
    # release hands the scale back to the preset's
    store.release("lora_0_scale", source="osc")
    _frame(live)
    assert live.backend.loras.scales == [1.0]


def test_a_live_scale_of_zero_renders_as_no_lora(lora_file: Path, tiny_preset: PresetConfig) -> None:
    live, store = _engine(_preset(tiny_preset, lora_file, 1.0))
    store.set_many({"lora_0_scale": 0.0}, source="osc")
    plain, _ = _engine(_preset(tiny_preset, None, 1.0))
    assert np.abs(_frame(live) - _frame(plain)).max() <= 1


def test_an_unchanged_scale_does_not_refuse(lora_file: Path, tiny_preset: PresetConfig,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    live, store = _engine(_preset(tiny_preset, lora_file, 1.0))
    calls: list[tuple[int, float]] = []
    real = live.backend.set_lora_scale
    monkeypatch.setattr(live.backend, "set_lora_scale", lambda i, s: (calls.append((i, s)), real(i, s)))
    for _ in range(3):
        _frame(live)
    assert calls == []  # the preset's scale is what was fused: nothing to re-fuse
    store.set_many({"lora_0_scale": 0.5}, source="osc")
    for _ in range(3):
        _frame(live)
    assert calls == [(0, 0.5)]  # once, at the frame boundary after the write


def test_aot_refuses_once_and_an_empty_slot_is_ignored_once(lora_file: Path, tiny_preset: PresetConfig,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    live, store = _engine(_preset(tiny_preset, lora_file, 1.0))
    _frame(live)
    live.backend.compile_mode = "aot"  # what set_lora_scale consults; compiling here would take minutes
    caplog.set_level(logging.WARNING, logger="vj.engine.backends.lora_scales")
    for scale in (0.5, 0.6, 0.7):
        store.set_many({"lora_0_scale": scale, "lora_2_scale": scale}, source="osc")
        _frame(live)
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    ignored = [r for r in caplog.records if "lora_2_scale" in r.getMessage()]
    assert len(refused) == 1 and "aot" in refused[0].getMessage()
    assert len(ignored) == 1 and "carries 1 LoRA" in ignored[0].getMessage()
    assert "aot" in live.lora_scales.refusal
    assert live.backend.loras.scales == [1.0]  # nothing half-applied


def test_udp_lora_scale_reaches_the_store_and_out_of_range_is_counted() -> None:
    store = ParamStore()
    osc = OscControl(store, port=0, actions=ShowActions())
    osc.start()
    try:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/vj/lora/0/scale", 0.25)
        client.send_message("/vj/lora/1/scale", 9.0)  # out of range
        client.send_message("/vj/lora/7/scale", 0.5)  # no such slot
        client.send_message("/vj/lora_3_scale", -1.5)  # the parameter's own address
        c = osc.counters

        deadline = time.monotonic() + 3.0
        while (c.datagrams < 4 or c.handled < c.datagrams) and time.monotonic() < deadline:
            time.sleep(0.002)
        assert store.live_overrides() == {"lora_0_scale": 0.25, "lora_3_scale": -1.5}
        assert c.rejected["out_of_range"] == 2
        assert c.applied == 2
    finally:
        osc.close()
