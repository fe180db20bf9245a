"""FrameParams, the typed per-frame view, against the registry it is the list for."""

from __future__ import annotations

import typing
from dataclasses import fields
from enum import StrEnum

import pytest

from vj.choices import (
    ANIMATION_MODES,
    BORDER_MODES,
    COLOR_COHERENCE_MODES,
    NOISE_TYPES,
    PROMPT_BLENDS,
    SAMPLERS,
    SEED_BEHAVIORS,
    BorderMode,
    ColourSpace,
    SeedBehavior,
)
from vj.prompt_mix import PromptMix
from vj.registry import REGISTRY, FrameParams, ParamKind
from vj.store import ParamSnapshot, ParamStore

_KIND_TYPES = {ParamKind.FLOAT: float, ParamKind.INT: int}


def test_fields_match_the_registry_in_names_order_kinds_and_defaults() -> None:
    hints = typing.get_type_hints(FrameParams)
    assert [f.name for f in fields(FrameParams)] == list(REGISTRY)
    for f in fields(FrameParams):
        spec, annotated = REGISTRY[f.name], hints[f.name]
        assert f.default == spec.default, f.name
        assert isinstance(f.default, annotated), f.name
        if spec.kind is ParamKind.CHOICE:
            assert issubclass(annotated, StrEnum), f.name
            assert tuple(member.value for member in annotated) == spec.choices, f.name
            assert type(spec.default) is str, f.name  # presets and timelines carry plain strings
        else:
            assert annotated is _KIND_TYPES[spec.kind], f.name
            assert type(f.default) is annotated, f.name


def test_choice_strings_are_the_ones_presets_osc_and_timelines_carry() -> None:
    assert BORDER_MODES == ("replicate", "reflect", "wrap", "zeros")
    assert ANIMATION_MODES == ("2d", "3d")
    assert COLOR_COHERENCE_MODES == ("none", "rgb", "hsv", "lab")
    assert NOISE_TYPES == ("gaussian", "perlin")
    assert SEED_BEHAVIORS == ("fixed", "iter", "random", "ladder", "alternate", "schedule")
    assert SAMPLERS == ("euler_a", "lcm")
    assert PROMPT_BLENDS == ("linear", "slerp")


def test_the_store_snapshot_carries_typed_params_next_to_the_plain_values() -> None:
    store = ParamStore()
    assert store.snapshot(0, 0.0, 0.04).params == FrameParams()
    store.set_many({"zoom": 1.5, "steps": 3, "border": "wrap", "color_coherence": 1, "seed_behavior": "Fixed"})
    snap = store.snapshot(1, 1.0, 0.04)
    params = snap.params
    assert params.zoom == snap.num("zoom") and type(params.zoom) is float
    assert params.steps == 3 and type(params.steps) is int
    assert params.border is BorderMode.WRAP and type(snap["border"]) is str
    assert params.color_coherence is ColourSpace.RGB
    assert params.seed_behavior is SeedBehavior.FIXED
    assert {f.name: getattr(params, f.name) for f in fields(FrameParams)} == dict(snap.values)


def test_a_snapshot_without_every_parameter_is_refused() -> None:
    values = {name: spec.default for name, spec in REGISTRY.items() if name != "zoom"}
    with pytest.raises(KeyError, match="zoom"):
        ParamSnapshot(0, 0.0, 0.04, values, PromptMix())


def test_frame_params_are_frozen_and_slotted() -> None:
    params = FrameParams()
    with pytest.raises(AttributeError):
        params.zoom = 2.0  # type: ignore[misc]
    assert not hasattr(params, "__dict__")
