"""What a MIDI control drives, parsed once from its text when a mapping is loaded or learned.

A target is a parameter ("zoom"; a LoRA's scale also as "lora/0/scale", a ControlNet unit's as
"controlnet/0/scale"), a prompt weight ("prompt/2/weight"), an LFO knob ("lfo/zoom/depth",
"lfo/zoom/rate") or an audio modulator's depth ("audio/zoom/depth");
a learn request may also name an `Action`. Each value keeps the text it came from, so a
learned file is written back exactly as it was spelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from vj.prompt_mix import MAX_PROMPTS
from vj.registry import (
    MAX_CONTROLNETS,
    MAX_LORAS,
    REGISTRY,
    ParamKind,
    controlnet_scale_name,
    lora_scale_name,
    slot_index,
)


class Action(StrEnum):
    NEXT_PRESET = "next_preset"
    PREVIOUS_PRESET = "previous_preset"
    RESET_MOTION = "reset_motion"
    TAP = "tap"
    RECORD = "record"
    RELEASE_ALL = "release_all"
    BLACKOUT = "blackout"  # toggles
    FREEZE = "freeze"  # toggles
    PANIC = "panic"
    LEARN = "learn"


LfoField = Literal["depth", "rate"]


class _SpelledAsText:
    """A target prints as the text it was parsed from (what a learned file writes back)."""

    __slots__ = ()
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class ParamTarget(_SpelledAsText):
    text: str
    param: str = ""  # the parameter, where the text is another spelling of it (lora/0/scale)

    @property
    def name(self) -> str:
        return self.param or self.text

    def default_range(self) -> tuple[float, float]:
        spec = REGISTRY[self.name]
        return (0.0, 1.0) if spec.kind is ParamKind.CHOICE else (spec.minimum, spec.maximum)


@dataclass(frozen=True, slots=True)
class PromptWeightTarget(_SpelledAsText):
    text: str
    index: int

    def default_range(self) -> tuple[float, float]:
        return (0.0, 1.0)


@dataclass(frozen=True, slots=True)
class LfoTarget(_SpelledAsText):
    text: str
    param: str
    field: LfoField

    def default_range(self) -> tuple[float, float]:
        if self.field == "rate":
            return (0.25, 16.0)  # beats per cycle: a sixteenth-ish wobble .. four bars
        spec = REGISTRY[self.param]
        return (0.0, (spec.maximum - spec.minimum) / 4.0)


@dataclass(frozen=True, slots=True)
class AudioDepthTarget(_SpelledAsText):
    text: str
    param: str

    def default_range(self) -> tuple[float, float]:
        spec = REGISTRY[self.param]
        return (0.0, (spec.maximum - spec.minimum) / 4.0)


Target = ParamTarget | PromptWeightTarget | LfoTarget | AudioDepthTarget
LearnTarget = Target | Action  # learn binds a control to a target, or a button to an action

LEARNABLE_ACTIONS: dict[str, Action] = {a.value: a for a in Action if a is not Action.LEARN}


def parse_target(text: str) -> Target | None:
    """The target `text` names, or None if there is no such parameter, prompt slot, LFO or audio knob."""
    if text in REGISTRY:
        return ParamTarget(text)
    parts = text.split("/")
    if len(parts) == 3 and parts[0] == "prompt" and parts[2] == "weight":
        index = slot_index(parts[1], MAX_PROMPTS)
        return PromptWeightTarget(text, index) if index is not None else None
    if len(parts) == 3 and parts[0] == "lora" and parts[2] == "scale":
        slot = slot_index(parts[1], MAX_LORAS)
        return ParamTarget(text, lora_scale_name(slot)) if slot is not None else None
    if len(parts) == 3 and parts[0] == "controlnet" and parts[2] == "scale":
        slot = slot_index(parts[1], MAX_CONTROLNETS)
        return ParamTarget(text, controlnet_scale_name(slot)) if slot is not None else None
    if len(parts) == 3 and parts[0] == "lfo" and parts[2] in ("depth", "rate"):
        spec = REGISTRY.get(parts[1])
        if spec is None or not spec.numeric:
            return None
        return LfoTarget(text, parts[1], "depth" if parts[2] == "depth" else "rate")
    if len(parts) == 3 and parts[0] == "audio" and parts[2] == "depth":
        spec = REGISTRY.get(parts[1])
        return AudioDepthTarget(text, parts[1]) if spec is not None and spec.numeric else None
    return None


def parse_learn_target(text: str) -> LearnTarget | None:
    """A target, or the name of an action a button can trigger (not `learn` itself)."""
    return LEARNABLE_ACTIONS.get(text) or parse_target(text)
