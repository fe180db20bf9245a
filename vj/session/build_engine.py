"""`build_engine`: the one way a preset, a backend and a store become an `Engine` (live, offline and replay).

The render settings, the depth model and the ControlNet units come from the preset here and
nowhere else, so the three ways of running a show cannot drift apart in how they build it.
"""

from __future__ import annotations

from vj.config import PresetConfig
from vj.engine.backends import Backend
from vj.engine.clock import Clock
from vj.engine.coherence.feature_bank import FeatureBank
from vj.engine.conditioning.reference_pictures import file_reference
from vj.engine.input_stage import EngineInputs
from vj.engine.loop import Engine, EngineSettings
from vj.frames import FrameSink
from vj.session.controlnet import build_controlnets
from vj.session.depth import build_depth
from vj.store import ParamStore


def build_engine(preset: PresetConfig, backend: Backend, store: ParamStore, sink: FrameSink, clock: Clock, *,
                 offline: bool, start_index: int = 0, inputs: EngineInputs | None = None,
                 publish_depth: bool = False) -> Engine:
    """The engine for `preset` rendering from `store` into `sink` on `clock`.

    `offline`: exact 1/fps motion and synchronous prompt encoding (a render), else the live
    behaviour (a show, or a replay of one). `publish_depth`: frames carry the depth map (the depth
    model loads even where the preset's warp does not need it)."""
    render = preset.render
    settings = EngineSettings(render.width, render.height, render.fps, offline=offline, cfg=preset.model.cfg,
                              rcfg_delta=preset.model.rcfg_delta)
    engine = Engine(backend, store, settings, sink, clock, start_index=start_index, inputs=inputs,
                    depth=build_depth(preset, backend, wanted=publish_depth),
                    publish_depth=publish_depth, controls=build_controlnets(preset, backend),
                    bank=FeatureBank.install(backend) if wants_feature_bank(preset) else None)
    if engine.references is not None and preset.reference.images:
        engine.references.prime([file_reference(image, weight) for image, weight in preset.reference.weighted()])
    return engine


def wants_feature_bank(preset: PresetConfig) -> bool:
    """A preset that sets or schedules `bank_strength` (even to 0) gets the feature bank's processors.

    The bank costs a second attention in every self-attention layer whatever its strength, so a show
    that never mentions it does not carry it; one that does can play the strength from 0 live."""
    return "bank_strength" in preset.params or "bank_strength" in preset.schedules
