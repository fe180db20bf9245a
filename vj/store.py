"""The `ParamStore` every control source writes into: targets, precedence, smoothing and events.

Control threads (OSC, MIDI, schedules, tempo) only ever write *targets* here. The render
thread calls `ParamStore.snapshot` once per frame and gets an immutable `ParamSnapshot`,
its parameters typed in `.params`.

Precedence of a parameter's target, highest first (DESIGN.md, "Control precedence"):

1. a live override (MIDI/OSC) until it is released,
2. a schedule, evaluated at the frame index,
3. the preset's base value (or the registry default).

Smoothing sits on top: a discontinuity in the target (a fader move, a release, a preset
switch) glides with the parameter's time constant, while a schedule that moves every
frame is followed exactly, so an offline render reproduces Deforum's numbers. Modulators
(LFOs) add an offset after smoothing; the result is clamped to the parameter's range.

What a frame reads (`ParamSnapshot`, `ControlEvent`, the smoothing decay) lives in vj.snapshot;
it is imported here too, so `from vj.store import ParamSnapshot` keeps working.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from vj.errors import ParamRejected
from vj.prompt_mix import (
    MAX_PROMPT_WEIGHT,
    MAX_PROMPTS,
    PromptMix,
    mix_from_json,
    mix_to_json,
    prompt_text_problem,
)
from vj.registry import REGISTRY, ParamKind, ParamSpec, ParamValue
from vj.snapshot import ControlEvent, ParamSnapshot, SmoothTrack, smoothing_decay

ScheduleFn = Callable[[int], float]
ModulatorFn = Callable[[float], float]
PromptScheduleFn = Callable[[int], PromptMix]

__all__ = ["ControlEvent", "ModulatorFn", "ParamSnapshot", "ParamStore", "PromptScheduleFn", "ScheduleFn",
           "StoreCounters", "smoothing_decay"]


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
        self._live_source: dict[str, str] = {}  # who wrote each live override last (the governor leaves others')
        self._schedules: dict[str, ScheduleFn] = {}
        self._modulators: dict[str, ModulatorFn] = {}
        self._tracks: dict[str, SmoothTrack] = {}
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
            self._live_source[name] = source
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

    def held_by(self, name: str) -> str | None:
        """The source of `name`'s live override ("live", "osc", "governor"...), None when it is not held."""
        with self._lock:
            return self._live_source.get(name) if name in self._live else None

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
        problem = prompt_text_problem(text)
        if problem is not None:
            self.reject(problem[0])
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
                    self._tracks[name] = SmoothTrack(target, 0.0, token)
                elif track is None:
                    value = float(target)
                    self._tracks[name] = SmoothTrack(value, 0.0, token)
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
                    try:
                        modulated = spec.clamp(float(value) + float(mod(now_s)))
                    except (ArithmeticError, ValueError):
                        # Writes are checked before they land; should one still fail here, the frame is
                        # drawn unmodulated and the modulator dropped (counted), not failed every frame.
                        del self._modulators[name]
                        self.counters.rejected["modulator_failed"] += 1
                    else:
                        value = int(round(modulated)) if spec.kind is ParamKind.INT else modulated
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
        elif event.kind in ("blackout", "resize", "depth_refresh", "reference", "model"):
            # The store keeps no blackout or size state: the switch goes on in the next frame's events, for the
            # replay's master stage (live, the master stage adds it to the first frame it darkens).
            with self._lock:
                self._events.append(replace(event, source=source))
        else:
            raise ValueError(f"unknown control event kind {event.kind!r}")

