"""`ModelSwitches` on its own: the hold path's order, the crossfade's weights, the undo after an OOM.

The engine is a small stand-in holding real `ModelParts` (a real prompt cache and conditioner, real LoRA
and ControlNet scale appliers) around a backend that only encodes prompts and counts `close`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from vj.config import PresetConfig, parse_preset
from vj.engine.conditioning.embeddings import Conditioning
from vj.engine.model_swap import ModelParts, ModelSwitches, Staged, model_parts
from vj.session.model_switch import ModelSwitcher, model_from_data, model_key
from vj.snapshot import ControlEvent, model_switch, model_switch_event


@dataclass
class CountingBackend:
    name: str
    closed: int = 0

    def encode_prompt(self, text: str) -> Conditioning:
        return Conditioning(torch.zeros(1, 2, 4))

    def close(self) -> None:
        self.closed += 1


@dataclass
class StandIn:
    parts: ModelParts
    width: int = 8
    height: int = 8
    picture: torch.Tensor | None = field(default_factory=lambda: torch.full((1, 3, 8, 8), 0.25))
    carried: list[ControlEvent] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def model_parts(self) -> ModelParts:
        return self.parts

    def install_model(self, parts: ModelParts) -> ModelParts:
        self.log.append(f"install {parts.key}")
        old, self.parts = self.parts, parts
        return old

    def resize_now(self, width: int, height: int) -> None:
        self.width, self.height = width, height

    def last_picture(self) -> torch.Tensor | None:
        return self.picture

    def carry_event(self, event: ControlEvent) -> None:
        self.carried.append(event)


def parts(key: str, *, owned: bool = True) -> ModelParts:
    return model_parts(key, CountingBackend(key), background=False, owned=owned)  # type: ignore[arg-type]


def event(key: str, fade_s: float = 1.0, size: int = 8) -> ControlEvent:
    return model_switch_event(key, size, size, fade_s, "test", {"source": key})


def test_model_switch_event_round_trips_and_keys_name_the_loras() -> None:
    switch = model_switch(event("tiny-xl", 0.5, 16))
    assert (switch.key, switch.width, switch.height, switch.fade_s) == ("tiny-xl", 16, 16, 0.5)
    preset = parse_preset('[model]\nsource = "tiny"\nloras = [{source = "a.safetensors", scale = 0.5}]\n', "p.toml")
    assert model_key(preset.model) == "tiny+a.safetensors@0.5"
    again = model_from_data(preset.model, {"source": "tiny-xl", "loras": [{"source": "b.safetensors", "scale": 1}]})
    assert (again.source, [lora.source for lora in again.loras], again.device) == ("tiny-xl", ["b.safetensors"],
                                                                                    preset.model.device)


def test_model_switch_hold_path_releases_the_old_model_before_loading_the_new_one() -> None:
    old = parts("tiny")
    engine = StandIn(old)
    switches = ModelSwitches("tiny")
    notes: list[str] = []

    def load() -> ModelParts:
        engine.log.append(f"load (old closed {old.backend.closed})")  # type: ignore[attr-defined]
        return parts("tiny-xl")

    switches.stage("tiny-xl", Staged(load=load, on_progress=notes.append))
    switches.take(engine, event("tiny-xl"), frame_index=10, time_s=1.0, dt_s=0.1)
    assert engine.log == ["load (old closed 1)", "install tiny-xl"]
    assert switches.key == "tiny-xl" and switches.switched[0].held and switches.switched[0].frame == 10
    assert notes == ["releasing tiny"]
    assert switches.holding_previous is None  # nothing to go back to: it was let go


def test_model_switch_crossfade_weights_run_on_the_frame_clock_and_release_the_old_model_at_the_end() -> None:
    old, new = parts("tiny"), parts("tiny-xl")
    engine = StandIn(old)
    switches = ModelSwitches("tiny")
    switches.stage("tiny-xl", Staged(parts=new))
    switches.take(engine, event("tiny-xl", fade_s=1.0), frame_index=10, time_s=1.0, dt_s=0.25)
    assert engine.parts is new and switches.holding_previous == "tiny" and old.backend.closed == 0  # type: ignore[attr-defined]
    white = torch.ones(1, 3, 8, 8)
    # The held picture is 0.25 everywhere; the weight is the time since the held frame (0.75 s) over the fade.
    assert torch.allclose(switches.blend(white, 1.0), torch.full_like(white, 0.25 + 0.25 * 0.75))
    assert torch.allclose(switches.blend(white, 1.5), torch.full_like(white, 0.25 + 0.75 * 0.75))
    assert switches.blend(white, 1.75) is white and not switches.fading  # over: the new model's own picture
    assert switches.holding_previous is None


def test_model_switch_undo_after_an_oom_goes_back_and_records_it() -> None:
    old, new = parts("tiny", owned=False), parts("tiny-xl")
    engine = StandIn(old)
    switches = ModelSwitches("tiny")
    assert switches.undo(engine) is None  # no switch: nothing to undo
    switches.stage("tiny-xl", Staged(parts=new))
    switches.take(engine, event("tiny-xl"), frame_index=3, time_s=1.0, dt_s=0.1)
    assert switches.undo(engine) == "model back to tiny"
    assert engine.parts is old and switches.key == "tiny" and not switches.fading
    assert new.backend.closed == 1 and old.backend.closed == 0  # type: ignore[attr-defined]
    assert [(model_switch(e).key, e.source, model_switch(e).fade_s) for e in engine.carried] == [("tiny", "oom", 0.0)]
    assert switches.undo(engine) is None  # once


def test_model_switch_not_staged_keeps_the_playing_model() -> None:
    engine = StandIn(parts("tiny"))
    switches = ModelSwitches("tiny")
    switches.take(engine, event("tiny-xl"), frame_index=3, time_s=1.0, dt_s=0.1)
    assert switches.key == "tiny" and switches.switched == [] and engine.log == []


@pytest.mark.parametrize(("free", "fits"), [(None, True), (64 << 20, False), (64 << 30, True)])
def test_model_switch_fit_is_the_new_models_estimate_against_free_memory(free: int | None, fits: bool) -> None:
    preset = parse_preset('[model]\nsource = "tiny-xl"\ndevice = "cpu"\n', "xl.toml")
    switcher = ModelSwitcher(_NoSession(), free=lambda device: free)  # type: ignore[arg-type]
    found, why = switcher.fits(preset)
    assert found is fits and "needed" in why


class _NoSession:
    preset: PresetConfig | None = None
