"""Audio modulators: a parameter follows a band, the level or the onsets through an envelope.

Each modulator is `offset + depth × curve(envelope(source))` in the parameter's units, added
after smoothing like an LFO (through the LFO bank's per-parameter slot, so both can act on
one parameter). `step()` runs once per analysed block, on the audio thread live or between
frames offline; it only updates floats and writes the store. The render thread reads the
last value (`ModulatorBank.set_offset`), so it never waits on the analysis.

An onset can also trigger an action with a cooldown: the next prompt of the mix, a seed step,
or a zoom punch (an extra zoom that decays).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

from vj.config import ModulatorsConfig
from vj.config_audio import AUDIO_CURVES, ONSET_ACTIONS, AnalysisConfig, AudioModConfig, OnsetConfig
from vj.control.audio.analysis import AudioFeatures
from vj.control.midi.curves import Curve, apply_curve
from vj.control.modulators import ModulatorBank
from vj.errors import ParamRejected
from vj.registry import SEED_MAX
from vj.store import ParamStore

log = logging.getLogger(__name__)

AUDIO_OFFSET = "audio"
PUNCH_OFFSET = "punch"


class Envelope:
    """One-pole follower: rises with `attack_s`, falls with `release_s` (0 = follow at once)."""

    __slots__ = ("attack_s", "release_s", "value")

    def __init__(self, attack_s: float, release_s: float) -> None:
        self.attack_s = attack_s
        self.release_s = release_s
        self.value = 0.0

    def step(self, x: float, dt_s: float) -> float:
        tau = self.attack_s if x > self.value else self.release_s
        k = 1.0 if tau <= 0.0 else 1.0 - math.exp(-dt_s / tau)
        self.value += k * (x - self.value)
        return self.value


@dataclass(frozen=True, slots=True)
class AudioMod:
    source: str
    depth: float
    offset: float = 0.0
    attack_ms: float = 10.0
    release_ms: float = 200.0
    curve: Curve = Curve.LINEAR

    def __post_init__(self) -> None:
        for name in ("depth", "offset", "attack_ms", "release_ms"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"audio {name}: expected a finite number, found {getattr(self, name)!r}")
        if self.attack_ms < 0 or self.release_ms < 0:
            raise ValueError("audio attack_ms / release_ms: expected >= 0")

    def shaped(self, envelope: float) -> float:
        return self.offset + self.depth * apply_curve(envelope, self.curve)


def audio_mod_from_config(cfg: AudioModConfig) -> AudioMod:
    return AudioMod(cfg.source, cfg.depth, cfg.offset, cfg.attack_ms, cfg.release_ms, Curve(cfg.curve))


def parse_audio_mod(args: list[object], sources: tuple[str, ...]) -> AudioMod:
    """`<source> <depth> [attack_ms release_ms [curve]]` (OSC); ValueError names what was wrong."""
    if not 2 <= len(args) <= 5:
        raise ValueError("expected <source> <depth> [attack_ms release_ms [curve]] or 'off'")
    source = args[0]
    if source not in sources:
        raise ValueError(f"audio source: expected one of {', '.join(sources)}, found {source!r}")
    numbers = []
    for name, v in zip(("depth", "attack_ms", "release_ms"), args[1:4], strict=False):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"audio {name}: expected a number, found {v!r}")
        numbers.append(float(v))
    curve = str(args[4]) if len(args) == 5 else "linear"
    if curve not in AUDIO_CURVES:
        raise ValueError(f"audio curve: expected one of {', '.join(AUDIO_CURVES)}, found {curve!r}")
    fresh = AudioMod(str(source), numbers[0])
    return replace(fresh, attack_ms=numbers[1] if len(numbers) > 1 else fresh.attack_ms,
                   release_ms=numbers[2] if len(numbers) > 2 else fresh.release_ms, curve=Curve(curve))


class AudioModulators:
    """The audio modulators of a session and its onset action, stepped once per analysed block."""

    def __init__(self, store: ParamStore, bank: ModulatorBank, analysis: AnalysisConfig | None = None,
                 onset: OnsetConfig | None = None) -> None:
        self.store = store
        self.bank = bank
        self.analysis = analysis or AnalysisConfig()
        self.onset = onset or OnsetConfig()
        self._lock = threading.Lock()
        self._mods: dict[str, AudioMod] = {}
        self._envelopes: dict[str, Envelope] = {}
        self._values: dict[str, float] = {}
        self._punch = 0.0
        self._time_s = 0.0
        self._last_fire_s = -math.inf
        self.fired: Counter[str] = Counter()
        self.onsets = 0
        self.last: AudioFeatures | None = None

    @property
    def sources(self) -> tuple[str, ...]:
        return self.analysis.sources

    # ------------------------------------------------------------------ assignment (any thread)
    def assign(self, name: str, mod: AudioMod) -> bool:
        """Attach (or replace) the audio modulator of a numeric parameter; False (counted) if refused."""
        try:
            spec = self.store.spec(name)
            if not spec.numeric:
                raise ParamRejected("wrong_type", f"{name}: only numeric parameters can be modulated")
            if mod.source not in self.sources:
                raise ParamRejected("unknown_source", f"audio source {mod.source!r}: expected one of "
                                                      f"{', '.join(self.sources)}")
        except ParamRejected as err:
            self.store.reject(err.reason)
            log.warning("audio: %s", err)
            return False
        with self._lock:
            fresh = name not in self._mods
            self._mods[name] = mod
            self._envelopes[name] = Envelope(mod.attack_ms / 1000.0, mod.release_ms / 1000.0)
            self._values.setdefault(name, 0.0)
        if fresh:
            self.bank.set_offset(name, AUDIO_OFFSET, lambda: self._values.get(name, 0.0))
        return True

    def update(self, name: str, **changes: float) -> bool:
        """Change depth (a MIDI knob on `audio/<param>/depth`) or another number; False if none is attached."""
        with self._lock:
            mod = self._mods.get(name)
            if mod is None:
                return False
            try:
                self._mods[name] = new = replace(mod, **changes)  # type: ignore[arg-type]
            except (ValueError, TypeError) as err:
                log.warning("audio %s: %s", name, err)
                return False
            envelope = self._envelopes[name]
            envelope.attack_s, envelope.release_s = new.attack_ms / 1000.0, new.release_ms / 1000.0
        return True

    def remove(self, name: str) -> bool:
        with self._lock:
            existed = self._mods.pop(name, None) is not None
            self._envelopes.pop(name, None)
            self._values.pop(name, None)
        if existed:
            self.bank.set_offset(name, AUDIO_OFFSET, None)
        return existed

    def clear(self) -> None:
        for name in list(self._mods):
            self.remove(name)

    def get(self, name: str) -> AudioMod | None:
        return self._mods.get(name)

    def assigned(self) -> Mapping[str, AudioMod]:
        with self._lock:
            return dict(self._mods)

    def value(self, name: str) -> float:
        """The offset the parameter gets now (0 for none)."""
        return self._values.get(name, 0.0) + (self._punch if name == "zoom" else 0.0)

    def level(self, source: str) -> float:
        """A source's level 0..1 in the last analysed block, for meters: 0 before the first block, and
        for a band the last block did not have (analysed before a preset switch changed the bands)."""
        last = self.last
        if last is None:
            return 0.0
        if source in ("level", "onset"):
            return last.source(source)
        return last.bands.get(source, 0.0)

    def set_onset_action(self, action: str) -> None:
        if action not in ONSET_ACTIONS:
            raise ValueError(f"onset action: expected one of {', '.join(ONSET_ACTIONS)}, found {action!r}")
        self.onset = replace(self.onset, action=action)
        self._punch_offset(action == "zoom_punch")

    def install_preset(self, mods: ModulatorsConfig) -> None:
        """Replace the audio modulators and the onset action with a preset's (band layout included)."""
        self.clear()
        self.analysis = mods.analysis
        self.onset = mods.onset
        for name, cfg in mods.audio.items():
            self.assign(name, audio_mod_from_config(cfg))
        self._punch_offset(self.onset.action == "zoom_punch")

    def _punch_offset(self, on: bool) -> None:
        if not on:
            self._punch = 0.0
        self.bank.set_offset("zoom", PUNCH_OFFSET, (lambda: self._punch) if on else None)

    # ------------------------------------------------------------------ per block (audio thread / offline)
    def step(self, features: AudioFeatures, dt_s: float) -> str | None:
        """Advance every envelope by one block; returns the onset action fired, if any."""
        with self._lock:
            for name, mod in self._mods.items():
                env = self._envelopes[name].step(features.source(mod.source), dt_s)
                self._values[name] = mod.shaped(env)
        self._time_s += dt_s
        self._punch *= math.exp(-dt_s * 1000.0 / self.onset.punch_release_ms)
        self.last = features
        if not features.onset:
            return None
        self.onsets += 1
        action = self.onset.action
        if action == "none" or (self._time_s - self._last_fire_s) * 1000.0 < self.onset.cooldown_ms:
            return None
        self._last_fire_s = self._time_s
        self._fire(action)
        self.fired[action] += 1
        return action

    def _fire(self, action: str) -> None:
        if action == "zoom_punch":
            self._punch = self.onset.punch
        elif action == "seed_step":
            seed = int(self.store.target("seed"))  # type: ignore[arg-type]
            self.store.set("seed", (seed + 1) % (SEED_MAX + 1), source="audio")
        elif action == "next_prompt":
            entries = self.store.prompts().entries
            if len(entries) < 2:
                return  # one prompt: nothing to move on to
            playing = max(range(len(entries)), key=lambda i: entries[i].weight)
            following = (playing + 1) % len(entries)
            with self.store.batch():
                for i in range(len(entries)):
                    self.store.set_prompt_weight(i, 1.0 if i == following else 0.0, source="audio")

    def status(self) -> str:
        f = self.last
        if f is None:
            return "audio waiting"
        bands = " ".join(f"{name} {f.bands[name]:.2f}" for name in self.analysis.band_names)
        bpm = f" ~{f.bpm:.0f} bpm" if f.bpm else ""
        return f"audio {bands} onsets {self.onsets}{bpm}"
