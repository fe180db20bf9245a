"""The parameter registry: every parameter a frame reads, with type, default, range, unit and smoothing.

Names follow Deforum so that schedules and settings files map one to one. This module is
the one source of truth for each parameter's choices and limits; the engine, the config
loader, the control sources and the web surface all read them from here.

There is one list of parameters: the fields of `FrameParams`, the typed view the engine
reads each frame. Each field carries its `ParamSpec` in its metadata and `REGISTRY` is
derived from the fields, in field order. Deriving the registry from the dataclass (rather
than the dataclass from the registry) keeps the typed attributes visible to mypy, so a
misspelt parameter in the engine is a type error, not a retry in the render loop. Each
choice list is a `StrEnum` in `vj.choices`; a parameter's choices are its values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from vj.choices import (
    AnimationMode,
    BorderMode,
    ColourSpace,
    NoiseType,
    PromptBlend,
    Sampler,
    SamplingMode,
    SeedBehavior,
    choice_values,
)
from vj.errors import ParamRejected

ParamValue = float | int | str


class ParamKind(StrEnum):
    FLOAT = "float"
    INT = "int"
    CHOICE = "choice"


class Motion(StrEnum):
    """How a parameter accumulates per frame (Deforum's per-frame increments)."""

    NONE = "none"
    ADDITIVE = "additive"  # angle, translation: value × frames elapsed
    MULTIPLICATIVE = "multiplicative"  # zoom: value ** frames elapsed


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One entry of the registry: name, type, default, range, unit and smoothing."""

    name: str
    group: str
    kind: ParamKind
    default: ParamValue
    minimum: float = 0.0
    maximum: float = 1.0
    unit: str = ""
    smoothing_s: float = 0.0
    description: str = ""
    choices: tuple[str, ...] = ()
    motion: Motion = Motion.NONE

    @property
    def numeric(self) -> bool:
        return self.kind is not ParamKind.CHOICE

    def validate(self, value: object) -> ParamValue:
        """Return `value` coerced to this parameter's type or raise `ParamRejected`."""
        if self.kind is ParamKind.CHOICE:
            if isinstance(value, bool):
                raise ParamRejected("wrong_type", f"{self.name}: expected one of {self.choices}, found {value!r}")
            if isinstance(value, int):  # OSC sends enums as indices
                if 0 <= value < len(self.choices):
                    return self.choices[value]
                raise ParamRejected(
                    "out_of_range", f"{self.name}: choice index must be 0..{len(self.choices) - 1}, found {value}"
                )
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in self.choices:
                    return lowered
                raise ParamRejected("unknown_choice", f"{self.name}: expected one of {self.choices}, found {value!r}")
            raise ParamRejected("wrong_type", f"{self.name}: expected one of {self.choices}, found {value!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamRejected("wrong_type", f"{self.name}: expected a number, found {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float (10**400): out of range, like 1e400 is not finite
            raise ParamRejected(
                "out_of_range",
                f"{self.name}: expected {self.minimum:g}..{self.maximum:g} {self.unit}, "
                f"found {huge_integer(int(value))}",
            ) from None
        if not math.isfinite(number):
            raise ParamRejected("not_finite", f"{self.name}: expected a finite number, found {value!r}")
        if number < self.minimum or number > self.maximum:
            raise ParamRejected(
                "out_of_range",
                f"{self.name}: expected {self.minimum:g}..{self.maximum:g} {self.unit}, found {number:g}")
        if self.kind is ParamKind.INT:
            return int(round(number))
        return number

    def from_normalised(self, x: float) -> ParamValue:
        """Map 0..1 onto the range (the OSC `/norm` convention); choices pick by position."""
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
            raise ParamRejected("wrong_type", f"{self.name}/norm: expected a float 0..1, found {x!r}")
        if not 0.0 <= float(x) <= 1.0:
            raise ParamRejected("out_of_range", f"{self.name}/norm: expected 0..1, found {x!r}")
        if self.kind is ParamKind.CHOICE:
            return self.choices[min(int(float(x) * len(self.choices)), len(self.choices) - 1)]
        value = self.minimum + float(x) * (self.maximum - self.minimum)
        return int(round(value)) if self.kind is ParamKind.INT else value

    def to_normalised(self, value: ParamValue) -> float:
        if self.kind is ParamKind.CHOICE:
            return self.choices.index(str(value)) / max(len(self.choices) - 1, 1)
        span = self.maximum - self.minimum
        return (float(value) - self.minimum) / span if span else 0.0

    def clamp(self, value: float) -> float:
        return min(max(value, self.minimum), self.maximum)


def huge_integer(value: int) -> str:
    """How to name an integer too large for a float in a refusal (its digits cannot always be printed)."""
    return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"


def slot_index(text: str, count: int) -> int | None:
    """A slot or preset number written in an address or name: ASCII digits only, 0..count-1, else None.

    `str.isdigit` also takes "²" and "٣" (which `int` then refuses or reads as 3), and `int` refuses
    over 4300 digits: neither may decide what a client's text means.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(max(count - 1, 0))):
        return None
    index = int(text)
    return index if index < count else None


# LoRA slots a preset can fill; each one's scale is a live parameter, lora_<i>_scale.
MAX_LORAS = 4
LORA_SCALE_MIN, LORA_SCALE_MAX = -4.0, 4.0  # as [model] loras[i].scale accepts


def lora_scale_name(index: int) -> str:
    """The parameter that holds LoRA `index`'s scale (OSC /vj/lora/<i>/scale, MIDI lora/<i>/scale)."""
    return f"lora_{index}_scale"


# [[controlnet]] units a preset can carry; each one's scale is a live parameter, controlnet_<i>_scale
# (controlnet_scale is the master gain on all of them).
MAX_CONTROLNETS = 4
CONTROLNET_SCALE_MIN, CONTROLNET_SCALE_MAX = 0.0, 2.0  # as [[controlnet]] scale accepts


def controlnet_scale_name(index: int) -> str:
    """The parameter that holds ControlNet unit `index`'s scale (OSC /vj/controlnet/<i>/scale, MIDI
    controlnet/<i>/scale)."""
    return f"controlnet_{index}_scale"


def unused_slots(loras: int, controlnets: int) -> frozenset[str]:
    """The slot parameters beyond what a show loaded (`loras` LoRAs, `controlnets` units): the page and
    the OSCQuery tree leave them out; a write to one is still accepted and ignored with a log line."""
    return frozenset([*(lora_scale_name(i) for i in range(loras, MAX_LORAS)),
                      *(controlnet_scale_name(i) for i in range(controlnets, MAX_CONTROLNETS))])


# An IP-Adapter's parameters: a show without one leaves them off the page and the OSCQuery tree.
REFERENCE_PARAMS = frozenset({"ip_adapter_scale", "reference_fade_s"})

# The feature bank's ring holds this many past frames at most (its memory is allocated for all of them).
MAX_BANK_FRAMES = 4
SIMILARITY_SKIP_MAX = 0.999  # the skip rule divides by 1 - threshold

SEED_MAX = 2**32 - 1  # seeds are unsigned 32-bit, as in Deforum and torch generators
SEED_MODULUS = SEED_MAX + 1


_Choice = TypeVar("_Choice", bound=StrEnum)
_SPEC = "vj.param_spec"  # the dataclass-field metadata key that carries a parameter's spec


def _float(group: str, default: float, lo: float, hi: float, unit: str, smoothing_s: float, doc: str,
           motion: Motion = Motion.NONE) -> float:
    spec = ParamSpec("", group, ParamKind.FLOAT, default, lo, hi, unit, smoothing_s, doc, motion=motion)
    return field(default=default, metadata={_SPEC: spec})


def _int(group: str, default: int, lo: int, hi: int, unit: str, doc: str) -> int:
    spec = ParamSpec("", group, ParamKind.INT, default, lo, hi, unit, 0.0, doc)
    return field(default=default, metadata={_SPEC: spec})


def _choice(group: str, default: _Choice, doc: str) -> _Choice:
    choices = choice_values(type(default))
    spec = ParamSpec("", group, ParamKind.CHOICE, default.value, 0, len(choices) - 1, "", 0.0, doc, choices)
    return field(default=default, metadata={_SPEC: spec})


@dataclass(frozen=True, slots=True)
class FrameParams:
    """One frame's parameters, typed: what the engine reads (`ParamSnapshot.params`).

    This class is the list of parameters: each field's metadata holds its `ParamSpec`
    (named after the field), and `REGISTRY` is derived from the fields in this order, so
    the typed view and the registry cannot disagree on names, order or defaults. The
    annotation must fit the spec's kind (float, int, or the choice's StrEnum); the
    registry unit test checks that, since the annotations are not read at run time.
    Motion values are per-frame increments at the preset's reference fps (zoom 1.02 = 2 %
    per frame).
    """

    zoom: float = _float("motion", 1.0, 0.5, 2.0, "x/frame", 0.25, "scale per frame; >1 zooms in",
                         Motion.MULTIPLICATIVE)
    angle: float = _float("motion", 0.0, -45.0, 45.0, "deg/frame", 0.25,
                          "rotation per frame; + is counter-clockwise", Motion.ADDITIVE)
    translation_x: float = _float("motion", 0.0, -100.0, 100.0, "px/frame", 0.25,
                                  "pan per frame; + moves content right", Motion.ADDITIVE)
    translation_y: float = _float("motion", 0.0, -100.0, 100.0, "px/frame", 0.25,
                                  "pan per frame; + moves content down", Motion.ADDITIVE)
    transform_center_x: float = _float("motion", 0.5, 0.0, 1.0, "fraction", 0.25, "pivot of zoom and rotation, x")
    transform_center_y: float = _float("motion", 0.5, 0.0, 1.0, "fraction", 0.25, "pivot of zoom and rotation, y")
    border: BorderMode = _choice("motion", BorderMode.REPLICATE,
                                "how the warp fills uncovered pixels (zeros: black)")
    animation_mode: AnimationMode = _choice("motion", AnimationMode.TWO_D,
                                            "2d: zoom/angle/pan warp; 3d: perspective camera")
    translation_z: float = _float("motion", 0.0, -100.0, 100.0, "units/frame", 0.25,
                                  "3D: + flies forward", Motion.ADDITIVE)
    rotation_3d_x: float = _float("motion", 0.0, -45.0, 45.0, "deg/frame", 0.25,
                                  "3D: tilt; + moves content down", Motion.ADDITIVE)
    rotation_3d_y: float = _float("motion", 0.0, -45.0, 45.0, "deg/frame", 0.25,
                                  "3D: pan; + moves content left", Motion.ADDITIVE)
    rotation_3d_z: float = _float("motion", 0.0, -45.0, 45.0, "deg/frame", 0.25,
                                  "3D: roll; + counter-clockwise", Motion.ADDITIVE)
    fov: float = _float("motion", 70.0, 1.0, 170.0, "deg", 0.25, "3D: camera field of view")
    near: float = _float("motion", 200.0, 1.0, 100_000.0, "units", 0.25,
                         "3D: nearest depth (Deforum units, 200 = 1); nearer pixels are pushed back to it")
    far: float = _float("motion", 10_000.0, 1.0, 100_000.0, "units", 0.25,
                        "3D: farthest depth; farther pixels become a flat backdrop at it")
    depth_weight: float = _float("motion", 1.0, 0.0, 4.0, "weight", 0.25,
                                 "3D: how much depth varies parallax (0 = flat plane, 1 = Deforum's z = 2 - d)")
    sampling_mode: SamplingMode = _choice("motion", SamplingMode.BILINEAR,
                                          "3D: warp interpolation, bilinear, bicubic or nearest")
    strength: float = _float("diffusion", 0.65, 0.0, 1.0, "fraction", 0.15,
                             "fraction of the previous frame kept (Deforum); denoise = 1 - strength")
    guidance: float = _float("diffusion", 1.0, 0.0, 20.0, "scale", 0.15, "classifier-free guidance; <=1 means no CFG")
    steps: int = _int("diffusion", 1, 1, 4, "steps", "denoising steps (1-4 for sd-turbo / LCM)")
    sampler: Sampler = _choice("diffusion", Sampler.EULER_A, "euler_a (sd-turbo) or lcm (LCM models)")
    controlnet_scale: float = _float("diffusion", 1.0, 0.0, 2.0, "gain", 0.15,
                                     "master gain: multiplies every controlnet_<i>_scale (0 = no ControlNet "
                                     "effect)")
    # A tensor input of the UNet call (not a processor attribute): a glide never recompiles.
    ip_adapter_scale: float = _float("reference", 0.6, 0.0, 2.0, "scale", 0.15,
                                     "how strongly the reference picture steers the style (IP-Adapter; "
                                     "0 = text only)")
    reference_fade_s: float = _float("reference", 2.0, 0.0, 60.0, "s", 0.0, "time a new reference picture "
                                     "fades in over")
    noise: float = _float("image", 0.02, 0.0, 1.0, "amount", 0.15, "noise added before diffusion")
    noise_type: NoiseType = _choice("image", NoiseType.GAUSSIAN, "gaussian or perlin noise")
    contrast: float = _float("image", 1.0, 0.0, 2.0, "gain", 0.15, "contrast gain about mid-grey")
    antiblur_amount: float = _float("image", 0.1, 0.0, 2.0, "amount", 0.15, "unsharp-mask amount")
    antiblur_sigma: float = _float("image", 1.0, 0.1, 10.0, "px", 0.15, "unsharp-mask blur sigma")
    antiblur_threshold: float = _float("image", 0.0, 0.0, 1.0, "fraction", 0.15, "unsharp-mask threshold")
    color_coherence: ColourSpace = _choice("image", ColourSpace.LAB, "colour space matched toward the anchor frame")
    color_coherence_amount: float = _float("image", 1.0, 0.0, 1.0, "fraction", 0.25,
                                           "how far colours are pulled to the anchor")
    seed: int = _int("seeds", 42, 0, SEED_MAX, "", "base seed")
    seed_behavior: SeedBehavior = _choice("seeds", SeedBehavior.ITER, "how the seed moves from frame to frame")
    seed_iter_n: int = _int("seeds", 1, 1, 10_000, "frames", "frames per seed step for iter")
    seed_morph_s: float = _float("seeds", 0.5, 0.0, 30.0, "s", 0.0, "time a seed change morphs over")
    prompt_fade_s: float = _float("prompts", 2.0, 0.0, 60.0, "s", 0.0, "time a new prompt fades in over")
    prompt_blend: PromptBlend = _choice("prompts", PromptBlend.LINEAR, "how weighted prompts mix: linear or slerp")
    cadence: int = _int("diffusion", 1, 1, 8, "frames", "diffuse every N frames; tween the rest")
    video_mix: float = _float("input", 0.0, 0.0, 1.0, "fraction", 0.15,
                              "share of the input picture (--input) in the init image: 0 = pure feedback, "
                              "1 = pure input")
    # Steadiness for an input picture (vj.engine.coherence): all device-side, so none of them recompiles.
    similarity_skip: float = _float("coherence", 0.0, 0.0, SIMILARITY_SKIP_MAX, "cosine", 0.0,
                                    "hold the last output while the input picture's similarity to the last "
                                    "diffused one is above this (0 = off; 0.98 is a usual start)")
    similarity_skip_max: int = _int("coherence", 10, 1, 120, "frames", "most frames held in a row by similarity_skip")
    bank_strength: float = _float("coherence", 0.0, 0.0, 1.0, "fraction", 0.15,
                                  "share of self-attention that reads the past frames' features (0 = off)")
    bank_frames: int = _int("coherence", 2, 1, MAX_BANK_FRAMES, "frames", "past frames the feature bank holds")
    latent_blend: float = _float("coherence", 0.0, 0.0, 1.0, "fraction", 0.15,
                                 "share of the previous output's latent in the next frame's start (0 = off)")
    # Applied where frames leave the loop for the outputs, never to the feedback (vj.output.master).
    master: float = _float("output", 1.0, 0.0, 1.0, "gain", 0.1, "output brightness: 0 fades the outputs to black")
    blackout_fade_s: float = _float("output", 1.0, 0.0, 30.0, "s", 0.0, "time a blackout fades out (and back in) over")

    # No smoothing: every step of a glide would re-fuse the adapter weights.
    lora_0_scale: float = _float("lora", 1.0, LORA_SCALE_MIN, LORA_SCALE_MAX, "scale", 0.0,
                                   "scale of LoRA 0 ([model] loras[0]); re-fused at the next frame")
    lora_1_scale: float = _float("lora", 1.0, LORA_SCALE_MIN, LORA_SCALE_MAX, "scale", 0.0,
                                   "scale of LoRA 1 ([model] loras[1]); re-fused at the next frame")
    lora_2_scale: float = _float("lora", 1.0, LORA_SCALE_MIN, LORA_SCALE_MAX, "scale", 0.0,
                                   "scale of LoRA 2 ([model] loras[2]); re-fused at the next frame")
    lora_3_scale: float = _float("lora", 1.0, LORA_SCALE_MIN, LORA_SCALE_MAX, "scale", 0.0,
                                   "scale of LoRA 3 ([model] loras[3]); re-fused at the next frame")

    # A multiplier on the unit's residuals outside the model: gliding costs nothing, so it is smoothed.
    controlnet_0_scale: float = _float("controlnet", 1.0, CONTROLNET_SCALE_MIN, CONTROLNET_SCALE_MAX, "scale",
                                       0.15, "scale of ControlNet unit 0 ([[controlnet]] 0), times controlnet_scale")
    controlnet_1_scale: float = _float("controlnet", 1.0, CONTROLNET_SCALE_MIN, CONTROLNET_SCALE_MAX, "scale",
                                       0.15, "scale of ControlNet unit 1 ([[controlnet]] 1), times controlnet_scale")
    controlnet_2_scale: float = _float("controlnet", 1.0, CONTROLNET_SCALE_MIN, CONTROLNET_SCALE_MAX, "scale",
                                       0.15, "scale of ControlNet unit 2 ([[controlnet]] 2), times controlnet_scale")
    controlnet_3_scale: float = _float("controlnet", 1.0, CONTROLNET_SCALE_MIN, CONTROLNET_SCALE_MAX, "scale",
                                       0.15, "scale of ControlNet unit 3 ([[controlnet]] 3), times controlnet_scale")

    def lora_scales(self) -> tuple[float, ...]:
        """The MAX_LORAS scales in slot order (one tuple compare per frame tells the engine nothing changed)."""
        return (self.lora_0_scale, self.lora_1_scale, self.lora_2_scale, self.lora_3_scale)

    def controlnet_scales(self) -> tuple[float, ...]:
        """The MAX_CONTROLNETS unit scales in slot order (before the master gain, controlnet_scale)."""
        return (self.controlnet_0_scale, self.controlnet_1_scale, self.controlnet_2_scale, self.controlnet_3_scale)

    @classmethod
    def from_values(cls, values: Mapping[str, ParamValue]) -> FrameParams:
        """The typed view of a full set of validated values (every parameter must be there)."""
        return cls(**{name: convert(values[name]) for name, convert in _CONVERTERS})


# Each value's type varies with its field, which is why a converter returns Any.
_Converter = Callable[[ParamValue], Any]


def _converter(spec: ParamSpec, default: object) -> _Converter:
    if spec.kind is ParamKind.CHOICE:
        return type(default)  # the field's StrEnum
    return float if spec.kind is ParamKind.FLOAT else int


_SPECS: tuple[ParamSpec, ...] = tuple(replace(f.metadata[_SPEC], name=f.name) for f in fields(FrameParams))
_CONVERTERS: tuple[tuple[str, _Converter], ...] = tuple(
    (f.name, _converter(f.metadata[_SPEC], f.default)) for f in fields(FrameParams))


def default_registry() -> Mapping[str, ParamSpec]:
    return MappingProxyType({spec.name: spec for spec in _SPECS})


REGISTRY: Mapping[str, ParamSpec] = default_registry()


def params_by_group(registry: Mapping[str, ParamSpec] = REGISTRY) -> dict[str, list[ParamSpec]]:
    groups: dict[str, list[ParamSpec]] = {}
    for spec in registry.values():
        groups.setdefault(spec.group, []).append(spec)
    return groups


def numeric_names(registry: Mapping[str, ParamSpec] = REGISTRY) -> Iterable[str]:
    return (name for name, spec in registry.items() if spec.numeric)

