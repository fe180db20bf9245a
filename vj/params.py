"""The parameter registry and the `ParamStore` every control source writes into.

Control threads (OSC, MIDI, schedules, tempo) only ever write *targets* here. The render
thread calls `ParamStore.snapshot` once per frame and gets an immutable `ParamSnapshot`.

Precedence of a parameter's target, highest first (DESIGN.md, "Control precedence"):

1. a live override (MIDI/OSC) until it is released,
2. a schedule, evaluated at the frame index,
3. the preset's base value (or the registry default).

Smoothing sits on top: a discontinuity in the target (a fader move, a release, a preset
switch) glides with the parameter's time constant, while a schedule that moves every
frame is followed exactly, so an offline render reproduces Deforum's numbers. Modulators
(LFOs) add an offset after smoothing; the result is clamped to the parameter's range.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from vj.errors import ParamRejected

ParamValue = float | int | str
ScheduleFn = Callable[[int], float]
ModulatorFn = Callable[[float], float]
PromptScheduleFn = Callable[[int], "PromptMix"]


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
    _i("seed", "seeds", 42, 0, 2**32 - 1, "", "base seed"),
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


@dataclass(frozen=True, slots=True)
class PromptEntry:
    text: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class PromptMix:
    """Weighted prompts plus one negative prompt, blended in embedding space by the engine."""

    entries: tuple[PromptEntry, ...] = ()
    negative: str = ""

    def with_entry(self, index: int, text: str | None = None, weight: float | None = None) -> PromptMix:
        entries = list(self.entries)
        while len(entries) <= index:
            entries.append(PromptEntry("", 0.0))
        old = entries[index]
        entries[index] = PromptEntry(old.text if text is None else text, old.weight if weight is None else weight)
        return PromptMix(tuple(entries), self.negative)

    def active(self) -> tuple[PromptEntry, ...]:
        """Entries that contribute: non-empty text and a positive weight."""
        return tuple(e for e in self.entries if e.text and e.weight > 0)


MAX_PROMPTS = 8
MAX_PROMPT_CHARS = 1000
MAX_PROMPT_WEIGHT = 10.0


@dataclass(frozen=True, slots=True)
class ControlEvent:
    """One applied change, as the recorder's control timeline stores it.

    kind: "set" (live override), "release", "prompt", "prompt_weight", "negative",
    "prompts" (whole mix), "base" (preset values).
    """

    kind: str
    name: str = ""
    value: object = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class ParamSnapshot:
    """What the render thread sees for one frame: immutable, smoothed, clamped."""

    frame_index: int
    time_s: float
    dt_s: float
    values: Mapping[str, ParamValue]
    prompts: PromptMix
    events: tuple[ControlEvent, ...] = ()

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
class _Track:
    """Per-parameter smoothing state: value = target + residual, residual decays."""

    value: ParamValue
    residual: float = 0.0
    token: object = None


@dataclass(slots=True)
class _Pending:
    apply_at_s: float
    values: dict[str, ParamValue]
    source: str


@dataclass
class StoreCounters:
    accepted: int = 0
    unchanged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


class ParamStore:
    """Thread-safe latest-value-wins parameter targets; one snapshot per frame.

    Every write method is cheap, takes the lock briefly and never waits on the render
    thread. Rejected writes raise nothing: they are counted by reason (see `counters`) and
    reported through the return value, so an I/O thread can log and carry on.
    """

    def __init__(self, registry: Mapping[str, ParamSpec] = REGISTRY,
                 base: Mapping[str, ParamValue] | None = None, prompts: PromptMix | None = None) -> None:
        self.registry = registry
        # Re-entrant so that `batch()` can hold it around several writes by the same thread.
        self._lock = threading.RLock()
        self._base: dict[str, ParamValue] = {name: spec.default for name, spec in registry.items()}
        self._live: dict[str, ParamValue] = {}
        self._schedules: dict[str, ScheduleFn] = {}
        self._modulators: dict[str, ModulatorFn] = {}
        self._tracks: dict[str, _Track] = {}
        self._prompts = prompts or PromptMix()
        self._prompt_schedule: PromptScheduleFn | None = None
        self._prompt_live = False
        self._pending: list[_Pending] = []
        self._events: list[ControlEvent] = []
        self._last: ParamSnapshot | None = None
        self.counters = StoreCounters()
        if base:
            self._base.update(self._validate_all(base, strict=True))

    # ------------------------------------------------------------------ validation
    def spec(self, name: str) -> ParamSpec:
        try:
            return self.registry[name]
        except KeyError:
            raise ParamRejected("unknown_param", f"unknown parameter {name!r}") from None

    def _validate_all(self, values: Mapping[str, object], strict: bool) -> dict[str, ParamValue]:
        good: dict[str, ParamValue] = {}
        for name, value in values.items():
            try:
                good[name] = self.spec(name).validate(value)
            except ParamRejected as err:
                if strict:
                    raise
                self.counters.rejected[err.reason] += 1
        return good

    def validate(self, name: str, value: object) -> ParamValue:
        return self.spec(name).validate(value)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the store for several writes (values, prompts, weights): one frame sees all or none.

        Keep the body to store writes: the render thread waits for it at its next snapshot.
        """
        with self._lock:
            yield

    def reject(self, reason: str) -> None:
        """Count a rejection that happened before reaching the store (bad OSC datagram...)."""
        with self._lock:
            self.counters.rejected[reason] += 1

    # ------------------------------------------------------------------ live writes
    def set(self, name: str, value: object, *, source: str = "live") -> bool:
        """Live override of one parameter. Returns False (and counts why) if rejected."""
        return self.set_many({name: value}, source=source) == 1

    def set_norm(self, name: str, x: float, *, source: str = "live") -> bool:
        try:
            value = self.spec(name).from_normalised(x)
        except ParamRejected as err:
            self.reject(err.reason)
            return False
        return self.set(name, value, source=source)

    def set_many(self, values: Mapping[str, object], *, source: str = "live",
                 apply_at_s: float | None = None) -> int:
        """Apply several live overrides atomically (they land in the same frame).

        Bad entries are counted and dropped; the good ones still apply together. With
        `apply_at_s` the batch waits until the first snapshot at or after that time
        (beat-quantised changes). Returns how many values were accepted.
        """
        good: dict[str, ParamValue] = {}
        reasons: list[str] = []
        for name, value in values.items():
            try:
                good[name] = self.spec(name).validate(value)
            except ParamRejected as err:
                reasons.append(err.reason)
        with self._lock:
            for reason in reasons:
                self.counters.rejected[reason] += 1
            if apply_at_s is not None:
                self._pending.append(_Pending(apply_at_s, good, source))
                self._pending.sort(key=lambda p: p.apply_at_s)
                self.counters.accepted += len(good)
                return len(good)
            self._apply_live(good, source)
        return len(good)

    def _apply_live(self, good: Mapping[str, ParamValue], source: str) -> None:
        for name, value in good.items():
            if self._live.get(name) == value:
                self.counters.unchanged += 1  # TouchDesigner resends every channel every cook
                continue
            self._live[name] = value
            self.counters.accepted += 1
            self._events.append(ControlEvent("set", name, value, source))

    def nudge(self, name: str, delta: float, *, source: str = "live") -> bool:
        """Relative change (MIDI relative encoders): current target + delta, clamped."""
        spec = self.spec(name)
        if not spec.numeric:
            self.reject("wrong_type")
            return False
        with self._lock:
            current = float(self._target_locked(name, self._last.frame_index if self._last else 0))
        return self.set(name, spec.validate(spec.clamp(current + delta)), source=source)

    def release(self, name: str, *, source: str = "live") -> bool:
        """Hand a parameter back to its schedule or preset value (it glides back)."""
        if name == "prompt":
            with self._lock:
                self._prompt_live = False
                self._events.append(ControlEvent("release", "prompt", None, source))
            return True
        try:
            self.spec(name)
        except ParamRejected as err:
            self.reject(err.reason)
            return False
        with self._lock:
            if self._live.pop(name, None) is not None:
                self._events.append(ControlEvent("release", name, None, source))
        return True

    def release_all(self, *, source: str = "live") -> None:
        with self._lock:
            for name in list(self._live):
                self._events.append(ControlEvent("release", name, None, source))
            self._live.clear()
            self._prompt_live = False

    def live_overrides(self) -> dict[str, ParamValue]:
        with self._lock:
            return dict(self._live)

    # ------------------------------------------------------------------ prompts
    def set_prompt(self, index: int, text: str, *, source: str = "live") -> bool:
        if not self._prompt_index_ok(index) or not self._prompt_text_ok(text):
            return False
        with self._lock:
            self._prompts = self._prompts.with_entry(index, text=text)
            if self._prompts.entries[index].weight == 0.0 and text:
                self._prompts = self._prompts.with_entry(index, weight=1.0)
            self._prompt_live = True
            self._events.append(ControlEvent("prompt", str(index), text, source))
        return True

    def set_prompt_weight(self, index: int, weight: object, *, source: str = "live") -> bool:
        if not self._prompt_index_ok(index):
            return False
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(float(weight)):
            self.reject("wrong_type" if not isinstance(weight, float) else "not_finite")
            return False
        if not 0.0 <= float(weight) <= MAX_PROMPT_WEIGHT:
            self.reject("out_of_range")
            return False
        with self._lock:
            if index < len(self._prompts.entries) and self._prompts.entries[index].weight == float(weight):
                self.counters.unchanged += 1
                return True
            self._prompts = self._prompts.with_entry(index, weight=float(weight))
            self._prompt_live = True
            self._events.append(ControlEvent("prompt_weight", str(index), float(weight), source))
        return True

    def set_negative(self, text: str, *, source: str = "live") -> bool:
        if not self._prompt_text_ok(text):
            return False
        with self._lock:
            self._prompts = PromptMix(self._prompts.entries, text)
            self._prompt_live = True
            self._events.append(ControlEvent("negative", "", text, source))
        return True

    def set_prompts(self, mix: PromptMix, *, source: str = "live") -> None:
        with self._lock:
            self._prompts = mix
            self._prompt_live = source != "preset"
            self._events.append(ControlEvent("prompts", "", mix_to_json(mix), source))

    def set_prompt_schedule(self, fn: PromptScheduleFn | None) -> None:
        with self._lock:
            self._prompt_schedule = fn

    def prompts(self) -> PromptMix:
        with self._lock:
            return self._prompts

    def _prompt_index_ok(self, index: object) -> bool:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_PROMPTS:
            self.reject("out_of_range")
            return False
        return True

    def _prompt_text_ok(self, text: object) -> bool:
        if not isinstance(text, str):
            self.reject("wrong_type")
            return False
        if len(text) > MAX_PROMPT_CHARS:
            self.reject("oversized")
            return False
        return True

    # ------------------------------------------------------------------ base, schedules, modulators
    def set_base(self, values: Mapping[str, object], *, source: str = "preset") -> None:
        """Replace preset base values (validated strictly: a preset is refused, not half-applied)."""
        good = self._validate_all(values, strict=True)
        with self._lock:
            self._base.update(good)
            self._events.append(ControlEvent("base", "", dict(good), source))

    def load_preset_state(self, base: Mapping[str, object], prompts: PromptMix,
                          schedules: Mapping[str, ScheduleFn], *, release_live: bool = True) -> None:
        """Switch preset atomically: defaults + `base`, new prompts and schedules."""
        good = self._validate_all(base, strict=True)
        for name in schedules:
            self.spec(name)
        with self._lock:
            self._base = {name: spec.default for name, spec in self.registry.items()}
            self._base.update(good)
            self._schedules = dict(schedules)
            self._prompts = prompts
            if release_live:
                for name in list(self._live):
                    self._events.append(ControlEvent("release", name, None, "preset"))
                self._live.clear()
                self._prompt_live = False
            self._events.append(ControlEvent("base", "", dict(self._base), "preset"))
            self._events.append(ControlEvent("prompts", "", mix_to_json(prompts), "preset"))

    def set_schedule(self, name: str, fn: ScheduleFn | None) -> None:
        self.spec(name)
        with self._lock:
            if fn is None:
                self._schedules.pop(name, None)
            else:
                self._schedules[name] = fn

    def set_modulator(self, name: str, fn: ModulatorFn | None) -> None:
        """An offset added after smoothing, as a function of time (LFOs, envelopes)."""
        if not self.spec(name).numeric:
            raise ParamRejected("wrong_type", f"{name}: only numeric parameters can be modulated")
        with self._lock:
            if fn is None:
                self._modulators.pop(name, None)
            else:
                self._modulators[name] = fn

    # ------------------------------------------------------------------ reading
    def target(self, name: str, frame_index: int | None = None) -> ParamValue:
        """The current target of one parameter (before smoothing)."""
        self.spec(name)
        with self._lock:
            index = frame_index if frame_index is not None else (self._last.frame_index if self._last else 0)
            return self._target_locked(name, index)

    def _target_locked(self, name: str, frame_index: int) -> ParamValue:
        if name in self._live:
            return self._live[name]
        fn = self._schedules.get(name)
        if fn is not None:
            spec = self.registry[name]
            raw = float(fn(frame_index))
            value = spec.clamp(raw) if math.isfinite(raw) else float(spec.default)
            return int(round(value)) if spec.kind is ParamKind.INT else value
        return self._base[name]

    def _token_locked(self, name: str) -> object:
        if name in self._live:
            return ("live", self._live[name])
        if name in self._schedules:
            return ("schedule", id(self._schedules[name]))
        return ("base", self._base[name])

    @property
    def last_snapshot(self) -> ParamSnapshot | None:
        return self._last

    def snapshot(self, frame_index: int, now_s: float, dt_s: float) -> ParamSnapshot:
        """Targets → smoothed values for one frame. Called only by the render thread."""
        with self._lock:
            while self._pending and self._pending[0].apply_at_s <= now_s:
                pending = self._pending.pop(0)
                self._apply_live(pending.values, pending.source)
            values: dict[str, ParamValue] = {}
            for name, spec in self.registry.items():
                target = self._target_locked(name, frame_index)
                track = self._tracks.get(name)
                token = self._token_locked(name)
                if not spec.numeric or spec.kind is ParamKind.INT:
                    value: ParamValue = target
                    self._tracks[name] = _Track(target, 0.0, token)
                elif track is None:
                    value = float(target)
                    self._tracks[name] = _Track(value, 0.0, token)
                else:
                    residual = track.residual
                    if track.token != token:  # the source jumped: glide from where we are
                        residual = float(track.value) - float(target)
                    residual *= smoothing_decay(dt_s, spec.smoothing_s)
                    if abs(residual) < 1e-9:
                        residual = 0.0
                    value = float(target) + residual
                    track.value, track.residual, track.token = value, residual, token
                mod = self._modulators.get(name)
                if mod is not None:
                    value = spec.clamp(float(value) + float(mod(now_s)))
                    if spec.kind is ParamKind.INT:
                        value = int(round(value))
                values[name] = value
            if self._prompt_schedule is not None and not self._prompt_live:
                scheduled = self._prompt_schedule(frame_index)
                if scheduled != self._prompts:
                    self._prompts = scheduled
                    self._events.append(ControlEvent("prompts", "", mix_to_json(scheduled), "schedule"))
            events = tuple(self._events)
            self._events.clear()
            snap = ParamSnapshot(frame_index, now_s, dt_s, MappingProxyType(values), self._prompts, events)
            self._last = snap
            return snap

    # ------------------------------------------------------------------ replay
    def apply_event(self, event: ControlEvent) -> None:
        """Re-apply a recorded `ControlEvent` (control-timeline replay)."""
        source = event.source or "replay"
        if event.kind == "set":
            self.set(event.name, event.value, source=source)
        elif event.kind == "release":
            self.release(event.name, source=source)
        elif event.kind == "prompt":
            self.set_prompt(int(event.name), str(event.value), source=source)
        elif event.kind == "prompt_weight":
            self.set_prompt_weight(int(event.name), float(event.value), source=source)  # type: ignore[arg-type]
        elif event.kind == "negative":
            self.set_negative(str(event.value), source=source)
        elif event.kind == "prompts":
            self.set_prompts(mix_from_json(event.value), source=source)
        elif event.kind == "base":
            self.set_base(dict(event.value), source=source)  # type: ignore[call-overload]
        else:
            raise ValueError(f"unknown control event kind {event.kind!r}")


def mix_to_json(mix: PromptMix) -> dict[str, object]:
    return {"entries": [[e.text, e.weight] for e in mix.entries], "negative": mix.negative}


def mix_from_json(data: object) -> PromptMix:
    if not isinstance(data, Mapping):
        raise ValueError(f"prompt mix: expected an object, found {data!r}")
    entries = tuple(PromptEntry(str(text), float(weight)) for text, weight in data.get("entries", []))
    return PromptMix(entries, str(data.get("negative", "")))


def params_by_group(registry: Mapping[str, ParamSpec] = REGISTRY) -> dict[str, list[ParamSpec]]:
    groups: dict[str, list[ParamSpec]] = {}
    for spec in registry.values():
        groups.setdefault(spec.group, []).append(spec)
    return groups


def numeric_names(registry: Mapping[str, ParamSpec] = REGISTRY) -> Iterable[str]:
    return (name for name, spec in registry.items() if spec.numeric)

