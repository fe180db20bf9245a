"""A take with the feature bank replayed again and again on one backend handed in (as a caller, or the live
session, hands in its own): the backend keeps one bank. After a second replay its UNet's processors, its
warm-up hooks and the rings are the ones the first left, no bank is left behind, and the frames are the same;
a switch away and back to the handed-in model inside the take reuses its bank too."""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tests.helpers import CollectFrames
from tests.integration.coherence.renders import preset_with
from vj.config import ModelConfig, PresetConfig
from vj.engine.backends import load_backend
from vj.engine.coherence.feature_bank import BankAttnProcessor, FeatureBank
from vj.frames import Frame
from vj.output.timeline import Timeline, TimelineWriter, make_header, read_timeline
from vj.session import build_store
from vj.session.model_switch import model_data
from vj.session.replay import replay
from vj.snapshot import model_switch_event
from vj.store import ControlEvent

FRAMES = 9


def write_take(path: Path, preset: PresetConfig, backend: Any,
               events: Mapping[int, Sequence[ControlEvent]]) -> Timeline:
    """A take's control timeline of FRAMES frames at 24 fps, with `events` landing in the frames they name."""
    store = build_store(preset, backend)
    writer = TimelineWriter(path, make_header(preset))
    for i in range(FRAMES):
        for event in events.get(i, ()):
            store.apply_event(event)
        writer.offer_snapshot(store.snapshot(i, (i + 1) / 24, 1 / 24))
    writer.close()
    return read_timeline(path)


def banks_alive() -> int:
    gc.collect()
    return sum(isinstance(o, FeatureBank) for o in gc.get_objects())


def bank_state(backend: Any) -> tuple[dict[str, Any], list[Any], list[tuple[int, int]], int]:
    """What installing a bank leaves in `backend`: its UNet's processors, its warm-up hooks, each bank ring
    (by identity and address) and how many bank objects are alive."""
    processors = dict(backend.unet.attn_processors)
    rings = [(id(t), t.data_ptr()) for p in processors.values() if isinstance(p, BankAttnProcessor)
             for t in (p.keys, p.values)]
    return processors, list(backend.warmup_size_hooks), rings, banks_alive()


def replayed(timeline: Timeline, backend: Any, switches: Sequence[tuple[int, str]] = ()) -> list[Frame]:
    sink = CollectFrames()
    result = replay(timeline, outputs=[sink], backend=backend)
    assert result.frames == FRAMES and result.mismatches == 0
    assert [(s.frame, s.key) for s in result.model_switches] == list(switches)
    return sink.frames


def assert_same_state(after: tuple[dict[str, Any], list[Any], list[tuple[int, int]], int],
                      first: tuple[dict[str, Any], list[Any], list[tuple[int, int]], int]) -> None:
    processors, hooks, rings, alive = after
    assert processors.keys() == first[0].keys()
    assert all(processors[name] is first[0][name] for name in processors)  # never wrapped or replaced
    assert hooks == first[1] and len(hooks) == 1  # one bank sized by a warm-up, not one per replay
    assert rings == first[2]  # the same ring tensors: no memory allocated again
    assert alive == first[3]  # no bank object left behind by the second replay


def test_a_take_replayed_twice_on_a_handed_in_backend_keeps_one_bank_and_renders_the_same(tmp_path: Path) -> None:
    backend = load_backend(ModelConfig(source="tiny", device="cpu"))
    preset = preset_with(None, bank_strength=0.8, bank_frames=3)
    timeline = write_take(tmp_path / "take.jsonl", preset, backend, {
        3: [ControlEvent("set", "angle", 6.0, "osc")], 5: [ControlEvent("set", "bank_strength", 0.5, "osc")]})
    first = replayed(timeline, backend)
    state = bank_state(backend)
    banks = [p for p in state[0].values() if isinstance(p, BankAttnProcessor)]
    assert banks and len(state[2]) == 2 * len(banks)
    second = replayed(timeline, backend)
    assert_same_state(bank_state(backend), state)
    for a, b in zip(first, second, strict=True):  # the second replay does not read the first one's frames
        assert np.array_equal(a.image, b.image), a.index
    third = replayed(timeline, backend)
    assert_same_state(bank_state(backend), state)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, third, strict=True))


def test_a_switch_back_to_the_handed_in_model_reuses_its_bank(tmp_path: Path) -> None:
    backend = load_backend(ModelConfig(source="tiny", device="cpu"))
    preset = preset_with(None, bank_strength=0.7, bank_frames=2)
    size = (preset.render.width, preset.render.height)
    xl = {**model_data(preset.model), "source": "tiny-xl"}
    timeline = write_take(tmp_path / "take.jsonl", preset, backend, {
        3: [model_switch_event("tiny-xl", *size, 0.0, "osc", xl)],
        6: [model_switch_event("tiny", *size, 0.0, "osc", model_data(preset.model))]})
    switches = [(3, "tiny-xl"), (6, "tiny")]
    first = replayed(timeline, backend, switches)
    state = bank_state(backend)
    assert len(state[1]) == 1  # the switch back found the bank the replay had installed
    second = replayed(timeline, backend, switches)
    assert_same_state(bank_state(backend), state)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.image, b.image), a.index


def test_install_finds_the_bank_in_the_unet_and_replaces_one_whose_processors_are_gone() -> None:
    from diffusers.models.attention_processor import AttnProcessor2_0

    backend = load_backend(ModelConfig(source="tiny", device="cpu"))
    bank = FeatureBank.install(backend)
    assert FeatureBank.install(backend) is bank and FeatureBank.installed_in(backend.unet) is bank
    assert backend.warmup_size_hooks == [bank.resize]
    backend.unet.set_attn_processor(AttnProcessor2_0())  # every processor replaced: that bank is gone
    assert FeatureBank.installed_in(backend.unet) is None
    again = FeatureBank.install(backend)
    assert again is not bank and backend.warmup_size_hooks == [again.resize]  # the gone bank is sized no more
    layers = [p for p in backend.unet.attn_processors.values() if isinstance(p, BankAttnProcessor)]
    assert {id(p) for p in layers} == {id(p) for p in again.processors} and len(layers) == len(again.processors)
    assert all(p.controls is again.controls for p in layers)
