"""The parameter registry: every parameter a frame reads, with type, default, range, unit and smoothing.

Names follow Deforum so that schedules and settings files map one to one. This module is
the one source of truth for each parameter's choices and limits; the engine, the config
loader, the control sources and the web surface all read them from here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

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
        number = float(value)
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


def _f(name: str, group: str, default: float, lo: float, hi: float, unit: str, smoothing_s: float, doc: str,
       motion: Motion = Motion.NONE) -> ParamSpec:
    return ParamSpec(name, group, ParamKind.FLOAT, default, lo, hi, unit, smoothing_s, doc, motion=motion)


def _i(name: str, group: str, default: int, lo: int, hi: int, unit: str, doc: str) -> ParamSpec:
    return ParamSpec(name, group, ParamKind.INT, default, lo, hi, unit, 0.0, doc)


def _c(name: str, group: str, default: str, choices: tuple[str, ...], doc: str) -> ParamSpec:
    return ParamSpec(name, group, ParamKind.CHOICE, default, 0, len(choices) - 1, "", 0.0, doc, choices)


SEED_MAX = 2**32 - 1  # seeds are unsigned 32-bit, as in Deforum and torch generators
SEED_MODULUS = SEED_MAX + 1

BORDER_MODES = ("replicate", "reflect", "wrap")
ANIMATION_MODES = ("2d", "3d")
COLOR_COHERENCE_MODES = ("none", "rgb", "hsv", "lab")
NOISE_TYPES = ("gaussian", "perlin")
SEED_BEHAVIORS = ("fixed", "iter", "random", "ladder", "alternate", "schedule")
SAMPLERS = ("euler_a", "lcm")
PROMPT_BLENDS = ("linear", "slerp")

# Names follow Deforum so that schedules and settings files map one to one. Motion values
# are per-frame increments at the preset's reference fps (zoom 1.02 = 2 % per frame).
_SPECS: tuple[ParamSpec, ...] = (
    _f("zoom", "motion", 1.0, 0.5, 2.0, "x/frame", 0.25, "scale per frame; >1 zooms in", Motion.MULTIPLICATIVE),
    _f("angle", "motion", 0.0, -45.0, 45.0, "deg/frame", 0.25, "rotation per frame; + is counter-clockwise",
       Motion.ADDITIVE),
    _f("translation_x", "motion", 0.0, -100.0, 100.0, "px/frame", 0.25, "pan per frame; + moves content right",
       Motion.ADDITIVE),
    _f("translation_y", "motion", 0.0, -100.0, 100.0, "px/frame", 0.25, "pan per frame; + moves content down",
       Motion.ADDITIVE),
    _f("transform_center_x", "motion", 0.5, 0.0, 1.0, "fraction", 0.25, "pivot of zoom and rotation, x"),
    _f("transform_center_y", "motion", 0.5, 0.0, 1.0, "fraction", 0.25, "pivot of zoom and rotation, y"),
    _c("border", "motion", "replicate", BORDER_MODES, "how the warp fills uncovered pixels"),
    _c("animation_mode", "motion", "2d", ANIMATION_MODES, "2d: zoom/angle/pan warp; 3d: perspective camera"),
    _f("translation_z", "motion", 0.0, -100.0, 100.0, "units/frame", 0.25, "3D: + flies forward",
       Motion.ADDITIVE),
    _f("rotation_3d_x", "motion", 0.0, -45.0, 45.0, "deg/frame", 0.25, "3D: tilt; + moves content down",
       Motion.ADDITIVE),
    _f("rotation_3d_y", "motion", 0.0, -45.0, 45.0, "deg/frame", 0.25, "3D: pan; + moves content left",
       Motion.ADDITIVE),
    _f("rotation_3d_z", "motion", 0.0, -45.0, 45.0, "deg/frame", 0.25, "3D: roll; + counter-clockwise",
       Motion.ADDITIVE),
    _f("fov", "motion", 70.0, 1.0, 170.0, "deg", 0.25, "3D: camera field of view"),
    _f("strength", "diffusion", 0.65, 0.0, 1.0, "fraction", 0.15,
       "fraction of the previous frame kept (Deforum); denoise = 1 - strength"),
    _f("guidance", "diffusion", 1.0, 0.0, 20.0, "scale", 0.15, "classifier-free guidance; <=1 means no CFG"),
    _i("steps", "diffusion", 1, 1, 4, "steps", "denoising steps (1-4 for sd-turbo / LCM)"),
    _c("sampler", "diffusion", "euler_a", SAMPLERS, "euler_a (sd-turbo) or lcm (LCM models)"),
    _f("noise", "image", 0.02, 0.0, 1.0, "amount", 0.15, "noise added before diffusion"),
    _c("noise_type", "image", "gaussian", NOISE_TYPES, "gaussian or perlin noise"),
    _f("contrast", "image", 1.0, 0.0, 2.0, "gain", 0.15, "contrast gain about mid-grey"),
    _f("antiblur_amount", "image", 0.1, 0.0, 2.0, "amount", 0.15, "unsharp-mask amount"),
    _f("antiblur_sigma", "image", 1.0, 0.1, 10.0, "px", 0.15, "unsharp-mask blur sigma"),
    _f("antiblur_threshold", "image", 0.0, 0.0, 1.0, "fraction", 0.15, "unsharp-mask threshold"),
    _c("color_coherence", "image", "lab", COLOR_COHERENCE_MODES, "colour space matched toward the anchor frame"),
    _f("color_coherence_amount", "image", 1.0, 0.0, 1.0, "fraction", 0.25, "how far colours are pulled to the anchor"),
    _i("seed", "seeds", 42, 0, SEED_MAX, "", "base seed"),
    _c("seed_behavior", "seeds", "iter", SEED_BEHAVIORS, "how the seed moves from frame to frame"),
    _i("seed_iter_n", "seeds", 1, 1, 10_000, "frames", "frames per seed step for iter"),
    _f("seed_morph_s", "seeds", 0.5, 0.0, 30.0, "s", 0.0, "time a seed change morphs over"),
    _f("prompt_fade_s", "prompts", 2.0, 0.0, 60.0, "s", 0.0, "time a new prompt fades in over"),
    _c("prompt_blend", "prompts", "linear", PROMPT_BLENDS, "how weighted prompts mix: linear or slerp"),
    _i("cadence", "diffusion", 1, 1, 8, "frames", "diffuse every N frames; tween the rest"),
)


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

