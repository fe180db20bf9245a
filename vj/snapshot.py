"""What the render thread reads of the parameters: one immutable `ParamSnapshot` a frame.

Also the `ControlEvent`s a snapshot carries (the changes applied since the last one, as the
recorder's control timeline stores them) and the smoothing maths the store applies to each
parameter on the way: a discontinuity decays with the parameter's time constant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from vj.prompt_mix import PromptMix
from vj.registry import FrameParams, ParamValue


@dataclass(frozen=True, slots=True)
class ControlEvent:
    """One applied change, as the recorder's control timeline stores it.

    kind: "set" (live override), "release", "prompt", "prompt_weight", "negative",
    "prompts" (whole mix), "base" (preset values), "blackout" (value {"on", "fade_s"}: a performer
    switch the output side applies; recorded so a replay fades where the show did), "resize" (value
    {"width", "height"}: the engine takes the new frame size at the boundary of the frame that carries it),
    "depth_refresh" (value {"every_n"}: the depth model estimates every N frames from that frame on),
    "reference" (value {"files", "weights"} or {"grab", "weight"}: the IP-Adapter's pictures from that frame on;
    files are paths the show resolved from the names it was sent),
    "model" (value {"key", "width", "height", "fade_s", "model"}: the engine switches to the model staged under
    "key" at the boundary of the frame that carries it, at that size, crossfading over fade_s; "model" is the
    `[model]` table a replay loads it from).
    """

    kind: str
    name: str = ""
    value: object = None
    source: str = ""


def blackout_event(on: bool, fade_s: float, source: str) -> ControlEvent:
    return ControlEvent("blackout", "", {"on": bool(on), "fade_s": float(fade_s)}, source)


def blackout_switch(event: ControlEvent) -> tuple[bool, float]:
    """(on, fade_s) of a "blackout" event."""
    switch = dict(event.value)  # type: ignore[call-overload]
    return bool(switch["on"]), float(switch["fade_s"])


def resize_event(width: int, height: int, source: str) -> ControlEvent:
    return ControlEvent("resize", "", {"width": int(width), "height": int(height)}, source)


def resize_size(event: ControlEvent) -> tuple[int, int]:
    """(width, height) of a "resize" event."""
    size = dict(event.value)  # type: ignore[call-overload]
    return int(size["width"]), int(size["height"])


def reference_event(files: list[str], weights: list[float], source: str) -> ControlEvent:
    """The IP-Adapter's pictures (files resolved by the show, never a path a client sent); none: off."""
    return ControlEvent("reference", "", {"files": list(files), "weights": [float(w) for w in weights]}, source)


def grab_event(which: str, source: str, weight: float = 1.0) -> ControlEvent:
    """The input's or the output's frame at the frame that carries it becomes the IP-Adapter's picture."""
    return ControlEvent("reference", "", {"grab": which, "weight": float(weight)}, source)


def depth_refresh_event(every_n: int, source: str) -> ControlEvent:
    return ControlEvent("depth_refresh", "", {"every_n": int(every_n)}, source)


@dataclass(frozen=True, slots=True)
class ModelSwitch:
    """What a "model" event asks for."""

    key: str
    width: int
    height: int
    fade_s: float
    model: Mapping[str, object]  # the [model] table's fields that differ from the show's (source, loras, ...)


def model_switch_event(key: str, width: int, height: int, fade_s: float, source: str,
                       model: Mapping[str, object] | None = None) -> ControlEvent:
    return ControlEvent("model", "", {"key": key, "width": int(width), "height": int(height),
                                      "fade_s": float(fade_s), "model": dict(model or {})}, source)


def model_switch(event: ControlEvent) -> ModelSwitch:
    """The switch a "model" event asks for."""
    value = dict(event.value)  # type: ignore[call-overload]
    return ModelSwitch(str(value["key"]), int(value["width"]), int(value["height"]), float(value["fade_s"]),
                       dict(value.get("model") or {}))


@dataclass(frozen=True, slots=True)
class ParamSnapshot:
    """What the render thread sees for one frame: immutable, smoothed, clamped.

    `params`, the typed view the engine reads, is built from `values` (which must hold every
    parameter) so the two agree; timelines, replay and OSCQuery read `values` as before.
    """

    frame_index: int
    time_s: float
    dt_s: float
    values: Mapping[str, ParamValue]
    prompts: PromptMix
    events: tuple[ControlEvent, ...] = ()
    params: FrameParams = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", FrameParams.from_values(self.values))  # frozen: set once, here

    def __getitem__(self, name: str) -> ParamValue:
        return self.values[name]

    def num(self, name: str) -> float:
        return float(self.values[name])  # type: ignore[arg-type]

    def text(self, name: str) -> str:
        return str(self.values[name])


def smoothing_decay(dt_s: float, smoothing_s: float) -> float:
    """Fraction of a discontinuity left after `dt_s` with time constant `smoothing_s`."""
    if smoothing_s <= 0.0 or dt_s <= 0.0:
        return 0.0 if smoothing_s <= 0.0 else 1.0
    return math.exp(-dt_s / smoothing_s)


@dataclass(slots=True)
class SmoothTrack:
    """Per-parameter smoothing state: value = target + residual, residual decays."""

    value: ParamValue
    residual: float = 0.0
    token: object = None
