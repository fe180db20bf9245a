"""LFOs that add an offset to any numeric parameter, synced to the beat clock or free-running in Hz.

An LFO is a pure function of the beat position (or of seconds): `offset + depth * wave(cycles)`,
wave in -1..1. The ParamStore adds it after smoothing and clamps to the parameter's range,
so a modulated parameter still honours its live override, schedule and preset base.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from vj.choices import LFO_SHAPES, LfoShape, LfoUnit
from vj.config import LfoConfig, ModulatorsConfig, lfo_field_problem
from vj.control.tempo import TempoClock
from vj.errors import ParamRejected
from vj.registry import huge_integer
from vj.store import ParamStore

log = logging.getLogger(__name__)


def _hash_unit(seed: int, n: int) -> float:
    """Deterministic pseudo-random value in -1..1 for integer `n` (no shared RNG state across threads)."""
    x = (n * 0x9E3779B1 + seed * 0x85EBCA77) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x / 0xFFFFFFFF * 2.0 - 1.0


def wave(shape: LfoShape, cycles: float, seed: int = 0) -> float:
    """One LFO cycle per unit of `cycles`, value in -1..1; every shape starts a cycle at its rise."""
    p = cycles - math.floor(cycles)
    if shape is LfoShape.SINE:
        return math.sin(2.0 * math.pi * p)
    if shape is LfoShape.TRIANGLE:  # 0 -> 1 -> -1 -> 0, like the sine
        return 4.0 * p if p < 0.25 else (2.0 - 4.0 * p if p < 0.75 else 4.0 * p - 4.0)
    if shape is LfoShape.SQUARE:
        return 1.0 if p < 0.5 else -1.0
    if shape is LfoShape.SAW:  # ramp up over the cycle
        return 2.0 * p - 1.0
    # random-smooth: a new random level every cycle, eased with smoothstep so it never jumps
    n = math.floor(cycles)
    a, b = _hash_unit(seed, n), _hash_unit(seed, n + 1)
    s = p * p * (3.0 - 2.0 * p)
    return a + (b - a) * s


@dataclass(frozen=True, slots=True)
class Lfo:
    """`depth` and `offset` are in the parameter's own units (zoom depth 0.01 = ±1 % per frame)."""

    shape: LfoShape = LfoShape.SINE
    rate: float = 4.0
    unit: LfoUnit = LfoUnit.BEATS
    depth: float = 0.0
    offset: float = 0.0
    phase: float = 0.0  # cycles, 0..1
    seed: int = 0

    def __post_init__(self) -> None:
        # A live LFO is held to the preset's rules ([modulators.lfo.*]): one check per field, every transport.
        for name in LFO_NUMBERS:
            check_lfo_field(name, getattr(self, name))

    def cycles(self, beats: float, seconds: float) -> float:
        if self.unit is LfoUnit.BEATS:
            return beats / self.rate + self.phase
        return seconds * self.rate + self.phase

    def value(self, beats: float, seconds: float) -> float:
        return self.offset + self.depth * wave(self.shape, self.cycles(beats, seconds), self.seed)


LFO_NUMBERS = ("rate", "depth", "offset", "phase")


def check_lfo_field(name: str, value: object) -> float:
    """`value` as LFO field `name` (rate, depth, offset or phase) if a preset would accept it.

    Raises `ParamRejected` (wrong_type, not_finite or out_of_range) naming the field, what a preset
    allows there and what was found; the rule itself is `LfoConfig`'s, so a live write (OSC, page,
    MIDI) and a preset can never disagree.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamRejected("wrong_type", f"lfo {name}: expected a number, found {value!r}"[:200])
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float: out of every range
        raise ParamRejected("out_of_range", f"lfo {name}: expected {lfo_field_problem(name, math.inf)}, "
                                            f"found {huge_integer(int(value))}") from None
    if not math.isfinite(number):
        raise ParamRejected("not_finite", f"lfo {name}: expected a finite number, found {value!r}")
    problem = lfo_field_problem(name, number)
    if problem is not None:
        raise ParamRejected("out_of_range", f"lfo {name}: expected {problem}, found {number:g}")
    return number


def parse_lfo(shape: object, rate: object, depth: object, offset: object = 0.0, unit: object = "beats") -> Lfo:
    """Build an Lfo from loosely typed input (OSC arguments, TOML); ValueError names what was wrong."""
    try:
        shape_e = LfoShape(str(shape).lower().replace("-", "_"))
    except ValueError:
        raise ValueError(f"lfo shape: expected one of {', '.join(LFO_SHAPES)}, found {shape!r}") from None
    try:
        unit_e = LfoUnit(str(unit).lower())
    except ValueError:
        raise ValueError(f"lfo unit: expected beats or hz, found {unit!r}") from None
    numbers = [check_lfo_field(name, v) for name, v in (("rate", rate), ("depth", depth), ("offset", offset))]
    return Lfo(shape_e, numbers[0], unit_e, numbers[1], numbers[2])


class ModulatorBank:
    """The LFOs assigned to parameters, installed into the store as `fn(now_s) -> offset`.

    Time base: with `engine_time=True` (offline render, FixedClock) the beat is computed from
    the frame time the engine passes in, so a render is reproducible; live, the tempo clock's
    own monotonic time is used, because taps and MIDI clock pulses are stamped on that clock.
    """

    def __init__(self, store: ParamStore, tempo: TempoClock, *, engine_time: bool = False) -> None:
        self.store = store
        self.tempo = tempo
        self.engine_time = engine_time
        self._lfos: dict[str, Lfo] = {}
        # Other modulators' offsets per parameter (audio: "audio", "punch"), each a cheap read of a
        # value computed off the render thread; they add to the LFO in the store's one modulator slot.
        self._offsets: dict[str, dict[str, Callable[[], float]]] = {}
        self._lock = threading.Lock()

    def _fn(self, name: str) -> Callable[[float], float]:
        def modulate(now_s: float) -> float:
            lfo = self._lfos.get(name)
            total = sum(read() for read in self._offsets.get(name, {}).values())
            if lfo is None:
                return total
            t = now_s if self.engine_time else self.tempo.now()
            return total + lfo.value(self.tempo.beat_at(t), t)
        return modulate

    def set_offset(self, name: str, key: str, read: Callable[[], float] | None) -> None:
        """Add (or with None remove) the offset `key` of parameter `name`; the caller checked the name."""
        with self._lock:
            had = name in self._lfos or bool(self._offsets.get(name))
            offsets = dict(self._offsets.get(name, {}))  # copied: the render thread iterates the old one
            if read is None:
                offsets.pop(key, None)
            else:
                offsets[key] = read
            if offsets:
                self._offsets[name] = offsets
            else:
                self._offsets.pop(name, None)
            has = name in self._lfos or bool(offsets)
        if has and not had:
            self.store.set_modulator(name, self._fn(name))
        elif had and not has:
            self.store.set_modulator(name, None)

    def assign(self, name: str, lfo: Lfo) -> bool:
        """Attach (or replace) the LFO of a numeric parameter; False (counted) for an unknown or text one."""
        try:
            spec = self.store.spec(name)
            if not spec.numeric:
                raise ParamRejected("wrong_type", f"{name}: only numeric parameters can be modulated")
        except ParamRejected as err:
            self.store.reject(err.reason)
            log.warning("lfo: %s", err)
            return False
        with self._lock:
            fresh = name not in self._lfos and not self._offsets.get(name)
            self._lfos[name] = lfo
        if fresh:
            self.store.set_modulator(name, self._fn(name))
        return True

    def update(self, name: str, **changes: float) -> bool:
        """Change depth/rate/offset of an existing LFO (MIDI knob on LFO depth); False if none."""
        with self._lock:
            lfo = self._lfos.get(name)
            if lfo is None:
                return False
            try:
                self._lfos[name] = replace(lfo, **changes)  # type: ignore[arg-type]
            except ValueError as err:
                log.warning("lfo %s: %s", name, err)
                return False
        return True

    def remove(self, name: str) -> bool:
        with self._lock:
            existed = self._lfos.pop(name, None) is not None
            still_modulated = bool(self._offsets.get(name))
        if existed and not still_modulated:
            self.store.set_modulator(name, None)
        return existed

    def clear(self) -> None:
        for name in list(self._lfos):
            self.remove(name)

    def get(self, name: str) -> Lfo | None:
        return self._lfos.get(name)

    def assigned(self) -> Mapping[str, Lfo]:
        with self._lock:
            return dict(self._lfos)

    def status(self) -> str:
        return f"lfo {len(self._lfos)}"

    @classmethod
    def on_engine_time(cls, store: ParamStore, mods: ModulatorsConfig) -> ModulatorBank:
        """A bank for an offline render: beats from the frame time at the preset's tempo (reproducible)."""
        return cls(store, TempoClock(mods.bpm, mods.beats_per_bar, now=lambda: 0.0), engine_time=True)

    def install_preset(self, mods: ModulatorsConfig) -> None:
        """Replace the LFOs with a preset's `[modulators.lfo.*]`; a tapped or clocked tempo outlives the switch."""
        if self.tempo.source == "preset":
            self.tempo.set_bpm(mods.bpm, source="preset")
        self.clear()
        for name, cfg in mods.lfo.items():
            self.assign(name, lfo_from_config(cfg))


def lfo_from_config(cfg: LfoConfig) -> Lfo:
    return Lfo(LfoShape(cfg.shape), cfg.rate, LfoUnit(cfg.unit), cfg.depth, cfg.offset, cfg.phase)
