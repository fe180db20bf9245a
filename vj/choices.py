"""Every choice list, as a StrEnum: the frame parameters' (border, sampling, animation, colour, noise,
seed, sampler, prompt blend) and the preset settings' (CFG mode, ControlNet kind, LFO shape and unit,
quantise). The engine, control and the CLI compare against the members; the registry, the config and
the OSC/OSCQuery surfaces list their values (`choice_values`), in declaration order.
"""

from __future__ import annotations

from enum import StrEnum


class BorderMode(StrEnum):
    REPLICATE = "replicate"
    REFLECT = "reflect"
    WRAP = "wrap"
    ZEROS = "zeros"  # black outside the frame (Deforum's 3D padding_mode "zeros")


class SamplingMode(StrEnum):
    """How a warp interpolates the previous frame (Deforum's sampling_mode)."""

    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    NEAREST = "nearest"


class AnimationMode(StrEnum):
    TWO_D = "2d"
    THREE_D = "3d"


class ColourSpace(StrEnum):
    """The space colour coherence matches in (`none` switches it off)."""

    NONE = "none"
    RGB = "rgb"
    HSV = "hsv"
    LAB = "lab"


class NoiseType(StrEnum):
    GAUSSIAN = "gaussian"
    PERLIN = "perlin"


class SeedBehavior(StrEnum):
    FIXED = "fixed"
    ITER = "iter"
    RANDOM = "random"
    LADDER = "ladder"
    ALTERNATE = "alternate"
    SCHEDULE = "schedule"


class Sampler(StrEnum):
    EULER_A = "euler_a"
    LCM = "lcm"


class PromptBlend(StrEnum):
    LINEAR = "linear"
    SLERP = "slerp"


def choice_values(choices: type[StrEnum]) -> tuple[str, ...]:
    """The plain string values of a choice list, in declaration order (OSC indices follow it)."""
    return tuple(member.value for member in choices)


# Choice lists of the preset's settings outside the frame parameters: the config validates against
# them, the engine, control and the CLI compare against the members.
class CfgMode(StrEnum):
    """Classifier-free guidance when guidance > 1 on a UNet that does not embed it (vj.engine.conditioning.guidance)."""

    RCFG_SELF = "rcfg-self"  # residual CFG with the conditioned prediction as the virtual negative: 1 call
    RCFG_INITIALIZE = "rcfg-initialize"  # residual CFG with one real negative call on the first step
    FULL = "full"  # a conditioned and an unconditioned call every step


class ControlKind(StrEnum):
    """The picture a ControlNet unit is given each diffused frame."""

    DEPTH = "depth"
    CANNY = "canny"
    INPUT = "input"
    FEEDBACK = "feedback"


class LfoShape(StrEnum):
    SINE = "sine"
    TRIANGLE = "triangle"
    SQUARE = "square"
    SAW = "saw"
    RANDOM_SMOOTH = "random_smooth"


class LfoUnit(StrEnum):
    BEATS = "beats"  # rate = beats per cycle (4 = one cycle per bar in 4/4)
    HZ = "hz"  # rate = cycles per second


class Quantise(StrEnum):
    """Where a discrete change (prompt, preset, seed) lands."""

    OFF = "off"
    BEAT = "beat"
    BAR = "bar"
    TWO_BARS = "2bars"
    FOUR_BARS = "4bars"

    def beats(self, beats_per_bar: int) -> float:
        return {Quantise.OFF: 0.0, Quantise.BEAT: 1.0, Quantise.BAR: float(beats_per_bar),
                Quantise.TWO_BARS: 2.0 * beats_per_bar, Quantise.FOUR_BARS: 4.0 * beats_per_bar}[self]


BORDER_MODES = choice_values(BorderMode)
SAMPLING_MODES = choice_values(SamplingMode)
ANIMATION_MODES = choice_values(AnimationMode)
COLOR_COHERENCE_MODES = choice_values(ColourSpace)
NOISE_TYPES = choice_values(NoiseType)
SEED_BEHAVIORS = choice_values(SeedBehavior)
SAMPLERS = choice_values(Sampler)
PROMPT_BLENDS = choice_values(PromptBlend)
CFG_MODES = choice_values(CfgMode)
CONTROL_KINDS = choice_values(ControlKind)
LFO_SHAPES = choice_values(LfoShape)
LFO_UNITS = choice_values(LfoUnit)
QUANTISE_MODES = choice_values(Quantise)
