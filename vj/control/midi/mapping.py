"""MIDI mappings: TOML files (controller profiles and learned maps) and the maths that applies them.

A mapping file (see presets/midi/*.toml and README "Live control"):

    [device]
    name = "Korg nanoKONTROL2"
    port = "nanoKONTROL2"          # substring used by `--midi auto` style matching (optional)

    [[cc]]                         # continuous controls: faders, knobs, encoders
    control = 0                    # CC number 0..127 (for mode = "14bit": the MSB, 0..31)
    channel = 1                    # 1..16; omit for any channel
    param = "zoom"                 # a parameter, "prompt/<i>/weight", "lfo/<param>/depth|rate"
    min = 0.9                      # default: the parameter's range
    max = 1.1
    curve = "linear"               # linear | exponential | logarithmic
    curve_amount = 4.0             # steepness of exponential / logarithmic
    invert = false
    mode = "absolute"              # absolute | relative_twos | relative_offset64 | 14bit
    step = 0.01                    # relative encoders: units per detent (default (max-min)/127)
    pickup = true                  # soft takeover after a preset recall (absolute modes)

    [[button]]                     # notes, or CCs sent by buttons (pressed = value >= 64)
    note = 41                      # or: cc = 41
    mode = "trigger"               # momentary | toggle | trigger
    action = "next_preset"         # trigger: next_preset, previous_preset, reset_motion, tap, record,
                                   #          release_all, learn (with param = the target to learn)
    param = "strength"             # momentary / toggle: the parameter set while on
    on = 1.0                       # value while on (default: the parameter's maximum)
    off = 0.0                      # value when off (default: release back to schedule / preset)

    [program]
    enabled = true                 # program change n -> preset n
    presets = ["calm", "tunnel"]   # names by program number (default: the shipped presets, sorted)

    clock = true                   # follow MIDI clock (24 ppqn, start / stop / continue)

An unknown key, a wrong type or a value out of range refuses the whole file with the file,
the key path, what was expected and what was found (vj.errors.ConfigError).
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import mido
import tomli_w

from vj.config import presets_dir
from vj.control._ratelog import RateLimitedLog
from vj.control.modulators import Lfo, ModulatorBank
from vj.control.tempo import TempoClock
from vj.errors import ConfigError, ParamRejected
from vj.prompt_mix import MAX_PROMPT_WEIGHT, MAX_PROMPTS
from vj.registry import REGISTRY, ParamKind
from vj.store import ParamStore

log = logging.getLogger(__name__)


class Curve(StrEnum):
    LINEAR = "linear"
    EXPONENTIAL = "exponential"  # fine control near min (zoom speed, noise)
    LOGARITHMIC = "logarithmic"  # fine control near max


class CcMode(StrEnum):
    ABSOLUTE = "absolute"
    RELATIVE_TWOS = "relative_twos"  # 1 = +1, 127 = -1 (two's complement)
    RELATIVE_OFFSET64 = "relative_offset64"  # 65 = +1, 63 = -1
    FOURTEEN_BIT = "14bit"  # MSB on CC n (0..31), LSB on CC n+32


class ButtonMode(StrEnum):
    MOMENTARY = "momentary"
    TOGGLE = "toggle"
    TRIGGER = "trigger"


class Action(StrEnum):
    NEXT_PRESET = "next_preset"
    PREVIOUS_PRESET = "previous_preset"
    RESET_MOTION = "reset_motion"
    TAP = "tap"
    RECORD = "record"
    RELEASE_ALL = "release_all"
    LEARN = "learn"


# Still picture: what reset_motion writes (a live override, released like any other).
NEUTRAL_MOTION: Mapping[str, float] = {"zoom": 1.0, "angle": 0.0, "translation_x": 0.0, "translation_y": 0.0}


# ---------------------------------------------------------------------- curve maths (pure)
def apply_curve(x: float, curve: Curve, amount: float = 4.0) -> float:
    """0..1 -> 0..1, monotonic; exponential and logarithmic are each other's inverse."""
    x = min(max(x, 0.0), 1.0)
    if curve is Curve.LINEAR or amount <= 0:
        return x
    scale = math.expm1(amount)
    if curve is Curve.EXPONENTIAL:
        return math.expm1(amount * x) / scale
    return math.log1p(scale * x) / amount


def invert_curve(y: float, curve: Curve, amount: float = 4.0) -> float:
    y = min(max(y, 0.0), 1.0)
    if curve is Curve.EXPONENTIAL:
        return apply_curve(y, Curve.LOGARITHMIC, amount)
    if curve is Curve.LOGARITHMIC:
        return apply_curve(y, Curve.EXPONENTIAL, amount)
    return y


def relative_ticks(value: int, mode: CcMode) -> int:
    """Detents moved by one relative-encoder message (accelerated encoders send bigger steps)."""
    if mode is CcMode.RELATIVE_TWOS:
        return value - 128 if value >= 64 else value
    if mode is CcMode.RELATIVE_OFFSET64:
        return value - 64
    raise ValueError(f"{mode} is not a relative mode")


def fourteen_bit(msb: int, lsb: int) -> float:
    return ((msb & 0x7F) << 7 | (lsb & 0x7F)) / 16383.0


# ---------------------------------------------------------------------- mapping model
@dataclass(frozen=True, slots=True)
class CcMapping:
    control: int
    param: str
    channel: int | None = None  # 0..15 internally; TOML says 1..16
    min: float | None = None
    max: float | None = None
    curve: Curve = Curve.LINEAR
    curve_amount: float = 4.0
    invert: bool = False
    mode: CcMode = CcMode.ABSOLUTE
    step: float | None = None
    pickup: bool = True


@dataclass(frozen=True, slots=True)
class ButtonMapping:
    number: int
    kind: str  # "note" | "cc"
    mode: ButtonMode
    channel: int | None = None
    param: str = ""
    action: Action | None = None
    on: float | str | None = None
    off: float | str | None = None


@dataclass(frozen=True, slots=True)
class MidiMapping:
    name: str = "unnamed"
    description: str = ""
    port: str = ""
    cc: tuple[CcMapping, ...] = ()
    buttons: tuple[ButtonMapping, ...] = ()
    program_change: bool = True
    program_presets: tuple[str, ...] = ()
    clock: bool = True
    source: str = field(default="", compare=False)


def valid_target(target: str) -> bool:
    return _target_range(target) is not None


def _target_range(target: str) -> tuple[float, float] | None:
    """Default (min, max) of a mapping target, or None if the target does not exist."""
    spec = REGISTRY.get(target)
    if spec is not None:
        return (0.0, 1.0) if spec.kind is ParamKind.CHOICE else (spec.minimum, spec.maximum)
    parts = target.split("/")
    if len(parts) == 3 and parts[0] == "prompt" and parts[2] == "weight" and parts[1].isdigit():
        return (0.0, 1.0) if int(parts[1]) < MAX_PROMPTS else None
    if len(parts) == 3 and parts[0] == "lfo" and parts[2] in ("depth", "rate"):
        spec = REGISTRY.get(parts[1])
        if spec is None or not spec.numeric:
            return None
        if parts[2] == "rate":
            return (0.25, 16.0)  # beats per cycle: a sixteenth-ish wobble .. four bars
        return (0.0, (spec.maximum - spec.minimum) / 4.0)
    return None


# ---------------------------------------------------------------------- parsing
_CC_KEYS = {"control", "channel", "param", "min", "max", "curve", "curve_amount", "invert", "mode", "step", "pickup"}
_BUTTON_KEYS = {"note", "cc", "channel", "mode", "param", "action", "on", "off"}
_TOP_KEYS = {"device", "cc", "button", "program", "clock"}


def _expect(ok: bool, source: str, key: str, expected: str, found: object) -> None:
    if not ok:
        raise ConfigError(source, key, expected, found)


def _unknown(table: Mapping[str, Any], allowed: set[str], source: str, path: str) -> None:
    for key in table:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise ConfigError(source, where, f"one of the keys {', '.join(sorted(allowed))}", f"unknown key {key!r}")


def _int(value: Any, lo: int, hi: int, source: str, key: str) -> int:
    _expect(isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi,
            source, key, f"an integer {lo}..{hi}", value)
    return int(value)


def _num(value: Any, source: str, key: str) -> float:
    _expect(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
            source, key, "a finite number", value)
    return float(value)


def _enum(cls: type[Enum], value: Any, source: str, key: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        raise ConfigError(source, key, f"one of {', '.join(str(m.value) for m in cls)}", value) from None


def _channel(table: Mapping[str, Any], source: str, key: str) -> int | None:
    if "channel" not in table:
        return None
    return _int(table["channel"], 1, 16, source, f"{key}.channel") - 1


def parse_mapping(text: str, source: str = "<string>") -> MidiMapping:
    """Parse and validate a mapping file; the whole file is refused on the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(source, "", "valid TOML", str(err)) from err
    _unknown(data, _TOP_KEYS, source, "")
    device = data.get("device", {})
    _expect(isinstance(device, dict), source, "device", "a table", device)
    _unknown(device, {"name", "port", "description"}, source, "device")
    for k in ("name", "port", "description"):
        if k in device:
            _expect(isinstance(device[k], str), source, f"device.{k}", "a string", device[k])
    ccs = [_parse_cc(item, source, f"cc[{i}]") for i, item in enumerate(_array(data, "cc", source))]
    buttons = [_parse_button(item, source, f"button[{i}]") for i, item in enumerate(_array(data, "button", source))]
    program = data.get("program", {})
    _expect(isinstance(program, dict), source, "program", "a table", program)
    _unknown(program, {"enabled", "presets"}, source, "program")
    enabled = program.get("enabled", True)
    _expect(isinstance(enabled, bool), source, "program.enabled", "true or false", enabled)
    presets = program.get("presets", [])
    _expect(isinstance(presets, list) and all(isinstance(p, str) and p for p in presets),
            source, "program.presets", "an array of preset names", presets)
    clock = data.get("clock", True)
    _expect(isinstance(clock, bool), source, "clock", "true or false", clock)
    return MidiMapping(name=device.get("name", Path(source).stem), description=device.get("description", ""),
                       port=device.get("port", ""), cc=tuple(ccs), buttons=tuple(buttons),
                       program_change=enabled, program_presets=tuple(presets), clock=clock, source=source)


def _array(data: Mapping[str, Any], key: str, source: str) -> list[Any]:
    value = data.get(key, [])
    _expect(isinstance(value, list), source, key, f"an array of tables ([[{key}]])", value)
    return value


def _parse_cc(item: Any, source: str, key: str) -> CcMapping:
    _expect(isinstance(item, dict), source, key, "a table", item)
    _unknown(item, _CC_KEYS, source, key)
    _expect("control" in item, source, f"{key}.control", "a CC number 0..127", "nothing")
    _expect("param" in item, source, f"{key}.param", "a parameter name (see `vj params`)", "nothing")
    mode = _enum(CcMode, item.get("mode", "absolute"), source, f"{key}.mode")
    control = _int(item["control"], 0, 31 if mode is CcMode.FOURTEEN_BIT else 127, source, f"{key}.control")
    param = item["param"]
    rng = _target_range(param) if isinstance(param, str) else None
    _expect(rng is not None, source, f"{key}.param",
            "a parameter name, prompt/<i>/weight or lfo/<param>/depth|rate", param)
    assert rng is not None
    lo = _num(item["min"], source, f"{key}.min") if "min" in item else None
    hi = _num(item["max"], source, f"{key}.max") if "max" in item else None
    spec = REGISTRY.get(param)
    if spec is not None and spec.numeric:
        for name, v in (("min", lo), ("max", hi)):
            _expect(v is None or spec.minimum <= v <= spec.maximum, source, f"{key}.{name}",
                    f"a value in {spec.minimum:g}..{spec.maximum:g} (the range of {param})", v)
    _expect((lo if lo is not None else rng[0]) != (hi if hi is not None else rng[1]),
            source, f"{key}.max", "a value different from min", hi)
    invert = item.get("invert", False)
    _expect(isinstance(invert, bool), source, f"{key}.invert", "true or false", invert)
    pickup = item.get("pickup", True)
    _expect(isinstance(pickup, bool), source, f"{key}.pickup", "true or false", pickup)
    amount = _num(item.get("curve_amount", 4.0), source, f"{key}.curve_amount")
    _expect(0.0 < amount <= 20.0, source, f"{key}.curve_amount", "a number in 0..20 (exclusive of 0)", amount)
    step = _num(item["step"], source, f"{key}.step") if "step" in item else None
    _expect(step is None or step > 0, source, f"{key}.step", "a positive number", step)
    return CcMapping(control=control, param=param, channel=_channel(item, source, key), min=lo, max=hi,
                     curve=_enum(Curve, item.get("curve", "linear"), source, f"{key}.curve"),
                     curve_amount=amount, invert=invert, mode=mode, step=step, pickup=pickup)


def _parse_button(item: Any, source: str, key: str) -> ButtonMapping:
    _expect(isinstance(item, dict), source, key, "a table", item)
    _unknown(item, _BUTTON_KEYS, source, key)
    _expect(("note" in item) != ("cc" in item), source, key, "exactly one of note = N or cc = N",
            sorted(k for k in ("note", "cc") if k in item))
    kind = "note" if "note" in item else "cc"
    number = _int(item[kind], 0, 127, source, f"{key}.{kind}")
    mode = _enum(ButtonMode, item.get("mode", "trigger"), source, f"{key}.mode")
    action = None
    param = item.get("param", "")
    if mode is ButtonMode.TRIGGER:
        _expect("action" in item, source, f"{key}.action", f"one of {', '.join(a.value for a in Action)}", "nothing")
        action = _enum(Action, item["action"], source, f"{key}.action")
        if action is Action.LEARN:
            _expect(isinstance(param, str) and valid_target(param), source, f"{key}.param",
                    "the target to learn (a parameter, prompt/<i>/weight or lfo/<param>/depth)", param)
        else:
            _expect("param" not in item, source, f"{key}.param", f"no param for action {action.value}", param)
    else:
        _expect("action" not in item, source, f"{key}.action", "no action for a momentary / toggle button",
                item.get("action"))
        _expect(isinstance(param, str) and valid_target(param), source, f"{key}.param",
                "a parameter name or prompt/<i>/weight", param)
    values: dict[str, float | str | None] = {}
    for name in ("on", "off"):
        v = item.get(name)
        if v is not None:
            _expect(isinstance(v, (int, float, str)) and not isinstance(v, bool), source, f"{key}.{name}",
                    "a number (or a choice name)", v)
            spec = REGISTRY.get(param)
            if spec is not None:
                try:
                    spec.validate(v)
                except ParamRejected as err:
                    raise ConfigError(source, f"{key}.{name}", f"a valid value of {param}", v) from err
        values[name] = v
    return ButtonMapping(number=number, kind=kind, mode=mode, channel=_channel(item, source, key), param=param,
                         action=action, on=values["on"], off=values["off"])


def load_mapping(path: str | os.PathLike[str]) -> MidiMapping:
    p = Path(path)
    if not p.is_file():
        shipped = profiles_dir() / f"{p.name if p.suffix else p.name + '.toml'}"
        if not shipped.is_file():
            names = ", ".join(x.stem for x in list_profiles())
            raise ConfigError(str(path), "", f"a mapping file or a shipped profile ({names})", "no such file")
        p = shipped
    return parse_mapping(p.read_text(encoding="utf-8"), str(p))


def profiles_dir() -> Path:
    """MIDI profiles shipped with the package (wheel) or beside it (source checkout)."""
    return presets_dir() / "midi"


def list_profiles() -> list[Path]:
    return sorted(profiles_dir().glob("*.toml"))


def mapping_to_toml(mapping: MidiMapping) -> str:
    """Serialise (learned) mappings; only keys that differ from the defaults are written."""
    doc: dict[str, Any] = {"device": {"name": mapping.name}}
    if mapping.description:
        doc["device"]["description"] = mapping.description
    if mapping.port:
        doc["device"]["port"] = mapping.port
    if not mapping.clock:
        doc["clock"] = False
    if not mapping.program_change or mapping.program_presets:
        doc["program"] = {"enabled": mapping.program_change, "presets": list(mapping.program_presets)}
    if mapping.cc:
        doc["cc"] = []
        for m in mapping.cc:
            t: dict[str, Any] = {"control": m.control, "param": m.param}
            if m.channel is not None:
                t["channel"] = m.channel + 1
            for k in ("min", "max", "step"):
                if getattr(m, k) is not None:
                    t[k] = getattr(m, k)
            if m.curve is not Curve.LINEAR:
                t["curve"] = m.curve.value
                t["curve_amount"] = m.curve_amount
            if m.invert:
                t["invert"] = True
            if m.mode is not CcMode.ABSOLUTE:
                t["mode"] = m.mode.value
            if not m.pickup:
                t["pickup"] = False
            doc["cc"].append(t)
    if mapping.buttons:
        doc["button"] = []
        for b in mapping.buttons:
            t = {b.kind: b.number, "mode": b.mode.value}
            if b.channel is not None:
                t["channel"] = b.channel + 1
            if b.action is not None:
                t["action"] = b.action.value
            if b.param:
                t["param"] = b.param
            for k in ("on", "off"):
                if getattr(b, k) is not None:
                    t[k] = getattr(b, k)
            doc["button"].append(t)
    return tomli_w.dumps(doc)


def save_mapping(mapping: MidiMapping, path: str | os.PathLike[str]) -> None:
    """Write atomically (temp file + rename): a crash mid-write never leaves half a mapping."""
    p = Path(path)
    text = mapping_to_toml(mapping)
    parse_mapping(text, str(p))  # never write a file we would refuse to load
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=p.name, suffix=".tmp", dir=p.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, p)


# ---------------------------------------------------------------------- applying
@dataclass
class MidiActions:
    """Session hooks a button or a program change can reach; None = not available (counted)."""

    preset_step: Callable[[int], object] | None = None  # +1 next, -1 previous
    preset_program: Callable[[int], object] | None = None  # program change n (no explicit list)
    preset_name: Callable[[str], object] | None = None  # program change via [program].presets
    record: Callable[[bool], object] | None = None
    tempo: TempoClock | None = None
    modulators: ModulatorBank | None = None


@dataclass
class MidiCounters:
    messages: int = 0
    applied: int = 0
    unmapped: int = 0
    pickup_waiting: int = 0
    clock: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _PickupState:
    engaged: bool = True
    last_x: float | None = None


def _matches(channel: int | None, msg_channel: int) -> bool:
    return channel is None or channel == msg_channel


class MidiMapper:
    """Turns mido messages into ParamStore writes and session actions, following one mapping.

    Thread-safe (one lock): the MIDI thread calls `handle`, the session calls `arm_pickup`
    after a preset recall, OSC or a button call `learn`.
    """

    PICKUP_TOLERANCE = 1.5 / 127  # a control within ~one step of the value picks it up

    def __init__(self, mapping: MidiMapping, store: ParamStore, actions: MidiActions | None = None,
                 on_learned: Callable[[MidiMapping], None] | None = None) -> None:
        self.store = store
        self.actions = actions or MidiActions()
        self.on_learned = on_learned
        self.counters = MidiCounters()
        self._lock = threading.RLock()
        self._msb: dict[tuple[int, int], int] = {}
        self._toggles: dict[int, bool] = {}
        self._recording = False
        self._learning: str | None = None
        self._ratelog = RateLimitedLog(log)
        self._set_mapping(mapping)

    def _set_mapping(self, mapping: MidiMapping) -> None:
        self.mapping = mapping
        self._pickup = [_PickupState() for _ in mapping.cc]
        cc_index: dict[int, list[int]] = {}
        lsb_index: dict[int, list[int]] = {}
        for i, m in enumerate(mapping.cc):
            cc_index.setdefault(m.control, []).append(i)
            if m.mode is CcMode.FOURTEEN_BIT:
                lsb_index.setdefault(m.control + 32, []).append(i)
        self._cc_index = cc_index
        self._lsb_index = lsb_index

    # ------------------------------------------------------------------ public
    @property
    def learning(self) -> str | None:
        return self._learning

    def learn(self, target: str) -> bool:
        """Arm learn: the next control moved (CC or button) is mapped to `target`; 'off' disarms."""
        with self._lock:
            if target == "off":
                self._learning = None
                return True
            if not valid_target(target) and target not in {a.value for a in Action if a is not Action.LEARN}:
                return False
            self._learning = target
            return True

    def arm_pickup(self) -> None:
        """After a preset recall: absolute controls wait until they reach the recalled value."""
        with self._lock:
            for m, state in zip(self.mapping.cc, self._pickup, strict=True):
                if m.pickup and m.mode in (CcMode.ABSOLUTE, CcMode.FOURTEEN_BIT):
                    state.engaged = False
                    state.last_x = None

    def handle(self, msg: mido.Message) -> None:
        """Apply one MIDI message; never raises (bad values are counted)."""
        with self._lock:
            self.counters.messages += 1
            try:
                self._handle(msg)
            except ParamRejected as err:
                self.counters.rejected[err.reason] += 1
                self.store.reject(err.reason)
            except Exception as err:  # a session action (preset, recorder) failed: count, keep playing
                self.counters.rejected["action_failed"] += 1
                self.store.reject("action_failed")
                self._ratelog.warning(msg.type, "MIDI %s: action failed: %s: %s", msg.type, type(err).__name__, err)

    def status(self) -> str:
        c = self.counters
        text = f"midi rx {c.messages}"
        if c.rejected:
            text += f" bad {sum(c.rejected.values())}"
        if self._learning:
            text += f" LEARN->{self._learning}"
        return text

    # ------------------------------------------------------------------ dispatch
    def _handle(self, msg: mido.Message) -> None:
        kind = msg.type
        if kind in ("clock", "start", "stop", "continue"):
            self.counters.clock += 1
            if self.mapping.clock and self.actions.tempo is not None:
                self.actions.tempo.midi_clock(kind)
            return
        if self._learning is not None and kind in ("control_change", "note_on") and (
                kind == "control_change" or msg.velocity > 0) and not self._is_learn_button(msg):
            self._learn_from(msg)
            return
        if kind == "control_change":
            self._on_cc(msg.channel, msg.control, msg.value)
        elif kind in ("note_on", "note_off"):
            pressed = kind == "note_on" and msg.velocity > 0  # note-on velocity 0 is a note-off
            self._on_button("note", msg.channel, msg.note, pressed)
        elif kind == "program_change":
            self._on_program(msg.program)
        else:
            self.counters.unmapped += 1

    def _on_cc(self, channel: int, control: int, value: int) -> None:
        hit = False
        for i in self._cc_index.get(control, ()):
            m = self.mapping.cc[i]
            if not _matches(m.channel, channel):
                continue
            hit = True
            if m.mode is CcMode.ABSOLUTE:
                self._absolute(i, m, value / 127.0)
            elif m.mode is CcMode.FOURTEEN_BIT:
                self._msb[(channel, control)] = value  # MSB alone means LSB = 0 (MIDI 1.0)
                self._absolute(i, m, fourteen_bit(value, 0))
            else:
                self._relative(m, relative_ticks(value, m.mode))
        for i in self._lsb_index.get(control, ()):
            m = self.mapping.cc[i]
            if not _matches(m.channel, channel):
                continue
            hit = True
            msb = self._msb.get((channel, m.control))
            if msb is not None:
                self._absolute(i, m, fourteen_bit(msb, value))
        for b in self.mapping.buttons:
            if b.kind == "cc" and b.number == control and _matches(b.channel, channel):
                hit = True
                self._button(b, value >= 64)
        if not hit:
            self.counters.unmapped += 1

    def _on_button(self, kind: str, channel: int, number: int, pressed: bool) -> None:
        hit = False
        for b in self.mapping.buttons:
            if b.kind == kind and b.number == number and _matches(b.channel, channel):
                hit = True
                self._button(b, pressed)
        if not hit:
            self.counters.unmapped += 1

    def _on_program(self, program: int) -> None:
        if not self.mapping.program_change:
            self.counters.unmapped += 1
            return
        if self.mapping.program_presets:
            if program >= len(self.mapping.program_presets):
                raise ParamRejected("out_of_range", f"program {program}: only "
                                    f"{len(self.mapping.program_presets)} presets are listed")
            self._call(self.actions.preset_name, self.mapping.program_presets[program])
        else:
            self._call(self.actions.preset_program, program)
        self.counters.applied += 1

    def _call(self, fn: Callable[..., object] | None, *args: object) -> None:
        if fn is None:
            raise ParamRejected("unavailable", "this session has no handler for that control")
        fn(*args)

    # ------------------------------------------------------------------ targets
    def _range(self, m: CcMapping) -> tuple[float, float]:
        lo, hi = _target_range(m.param) or (0.0, 1.0)
        return (lo if m.min is None else m.min, hi if m.max is None else m.max)

    def _current(self, target: str) -> float | None:
        spec = self.store.registry.get(target)
        if spec is not None:
            value = self.store.target(target)
            return spec.to_normalised(value) if spec.kind is ParamKind.CHOICE else float(value)  # type: ignore[arg-type]
        parts = target.split("/")
        if parts[0] == "prompt":
            entries = self.store.prompts().entries
            i = int(parts[1])
            return entries[i].weight if i < len(entries) else 0.0
        bank = self.actions.modulators
        if bank is None:
            return None
        lfo = bank.get(parts[1]) or Lfo()  # no LFO yet: the knob starts from a fresh one's depth / rate
        return float(getattr(lfo, parts[2]))

    def _write(self, target: str, value: float | str) -> None:
        spec = self.store.registry.get(target)
        if spec is not None:
            if spec.kind is ParamKind.CHOICE and not isinstance(value, str):
                value = spec.from_normalised(min(max(float(value), 0.0), 1.0))
            ok = self.store.set(target, value, source="midi")
        else:
            parts = target.split("/")
            if parts[0] == "prompt":
                weight = min(max(float(value), 0.0), MAX_PROMPT_WEIGHT)
                ok = self.store.set_prompt_weight(int(parts[1]), weight, source="midi")
            else:
                bank = self.actions.modulators
                if bank is None:
                    raise ParamRejected("unavailable", "no modulator bank in this session")
                ok = bank.update(parts[1], **{parts[2]: float(value)})
                if not ok:  # the first touch of an LFO knob attaches one (a sine over one bar)
                    ok = bank.assign(parts[1], replace(Lfo(), **{parts[2]: float(value)}))  # type: ignore[arg-type]
        if ok:
            self.counters.applied += 1
        else:
            self.counters.rejected["store_rejected"] += 1

    def _absolute(self, index: int, m: CcMapping, x: float) -> None:
        """x = raw control position 0..1 -> invert -> curve -> min..max, with pickup."""
        pos = 1.0 - x if m.invert else x
        lo, hi = self._range(m)
        state = self._pickup[index]
        if not state.engaged:
            current = self._current(m.param)
            if current is None:
                state.engaged = True
            else:
                # where the control would have to be to match the current value
                y = (current - lo) / (hi - lo)
                target_pos = invert_curve(y, m.curve, m.curve_amount)
                crossed = state.last_x is not None and (state.last_x - target_pos) * (pos - target_pos) <= 0
                state.last_x = pos
                if crossed or abs(pos - target_pos) <= self.PICKUP_TOLERANCE:
                    state.engaged = True
                else:
                    self.counters.pickup_waiting += 1
                    return
        value = lo + apply_curve(pos, m.curve, m.curve_amount) * (hi - lo)
        spec = self.store.registry.get(m.param)
        if spec is not None and spec.kind is ParamKind.INT:
            value = round(value)
        self._write(m.param, value)

    def _relative(self, m: CcMapping, ticks: int) -> None:
        lo, hi = self._range(m)
        step = m.step if m.step is not None else (hi - lo) / 127.0
        current = self._current(m.param)
        if current is None:
            raise ParamRejected("unavailable", f"{m.param} has no current value to move")
        delta = (-ticks if m.invert else ticks) * step
        value = min(max(current + delta, min(lo, hi)), max(lo, hi))
        spec = self.store.registry.get(m.param)
        if spec is not None and spec.kind is ParamKind.INT:
            value = round(value)
        self._write(m.param, value)

    def _button(self, b: ButtonMapping, pressed: bool) -> None:
        if b.mode is ButtonMode.TRIGGER:
            if pressed:
                self._trigger(b)
            return
        if b.mode is ButtonMode.TOGGLE:
            if not pressed:
                return
            on = not self._toggles.get(id(b), False)
            self._toggles[id(b)] = on
        else:
            on = pressed
        if on:
            value = b.on
            if value is None:
                rng = _target_range(b.param)
                value = rng[1] if rng else 1.0
            self._write(b.param, value)
        elif b.off is not None:
            self._write(b.param, b.off)
        else:
            self._release(b.param)

    def _release(self, target: str) -> None:
        if target in self.store.registry:
            self.store.release(target, source="midi")
        elif target.startswith("prompt/"):
            self.store.set_prompt_weight(int(target.split("/")[1]), 0.0, source="midi")
        self.counters.applied += 1

    def _trigger(self, b: ButtonMapping) -> None:
        a = self.actions
        action = b.action
        if action is Action.NEXT_PRESET:
            self._call(a.preset_step, 1)
        elif action is Action.PREVIOUS_PRESET:
            self._call(a.preset_step, -1)
        elif action is Action.RESET_MOTION:
            self.store.set_many(dict(NEUTRAL_MOTION), source="midi")
        elif action is Action.TAP:
            if a.tempo is None:
                raise ParamRejected("unavailable", "no tempo clock")
            a.tempo.tap()
        elif action is Action.RECORD:
            self._recording = not self._recording
            self._call(a.record, self._recording)
        elif action is Action.RELEASE_ALL:
            self.store.release_all(source="midi")
        elif action is Action.LEARN:
            self._learning = None if self._learning == b.param else b.param
        self.counters.applied += 1

    # ------------------------------------------------------------------ learn
    def _is_learn_button(self, msg: mido.Message) -> bool:
        """The button that armed learn must not be learned itself (a CC button sends a release too)."""
        kind, number = ("cc", msg.control) if msg.type == "control_change" else ("note", msg.note)
        return any(b.action is Action.LEARN and b.kind == kind and b.number == number
                   and _matches(b.channel, msg.channel) for b in self.mapping.buttons)

    def _learn_from(self, msg: mido.Message) -> None:
        target = self._learning
        assert target is not None
        mapping = learned_mapping(self.mapping, msg, target)
        if mapping is None:
            self.counters.unmapped += 1
            return
        self._learning = None
        self._set_mapping(mapping)
        if self.on_learned is not None:
            self.on_learned(mapping)


def learned_mapping(mapping: MidiMapping, msg: mido.Message, target: str) -> MidiMapping | None:
    """`mapping` plus (or with a replaced) entry binding the control of `msg` to `target`.

    A CC becomes an absolute continuous control for a parameter target, a trigger for an
    action target; a note becomes a toggle for a parameter target, a trigger for an action.
    Earlier entries for the same control and channel are replaced so a re-learn moves it.
    """
    actions = {a.value: a for a in Action if a is not Action.LEARN}
    if msg.type == "control_change":
        kind, number = "cc", msg.control
    elif msg.type == "note_on" and msg.velocity > 0:
        kind, number = "note", msg.note
    else:
        return None
    ccs = [m for m in mapping.cc if not (kind == "cc" and m.control == number and m.channel == msg.channel)]
    buttons = [b for b in mapping.buttons
               if not (b.kind == kind and b.number == number and b.channel == msg.channel)]
    if target in actions:
        buttons.append(ButtonMapping(number=number, kind=kind, mode=ButtonMode.TRIGGER, channel=msg.channel,
                                     action=actions[target]))
    elif kind == "cc":
        ccs.append(CcMapping(control=number, param=target, channel=msg.channel))
    else:
        buttons.append(ButtonMapping(number=number, kind="note", mode=ButtonMode.TOGGLE, channel=msg.channel,
                                     param=target))
    return replace(mapping, cc=tuple(ccs), buttons=tuple(buttons))
