"""The MIDI mapping file format: TOML controller profiles and learned maps, parsed, validated and written.

A mapping file (see presets/midi/*.toml and docs/guide/live-control.md, MIDI):

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
                                   #          release_all, blackout, freeze, panic,
                                   #          learn (with param = the target to learn)
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

import math
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import tomli_w

from vj.config import lfo_field_problem
from vj.control.midi.curves import CcMode, Curve
from vj.control.midi.targets import Action, LfoTarget, Target, parse_target
from vj.errors import ConfigError, ParamRejected
from vj.preset_files import presets_dir
from vj.registry import REGISTRY


class ButtonMode(StrEnum):
    MOMENTARY = "momentary"
    TOGGLE = "toggle"
    TRIGGER = "trigger"


@dataclass(frozen=True, slots=True)
class CcMapping:
    control: int
    target: Target
    channel: int | None = None  # 0..15 internally; TOML says 1..16
    min: float | None = None
    max: float | None = None
    curve: Curve = Curve.LINEAR
    curve_amount: float = 4.0
    invert: bool = False
    mode: CcMode = CcMode.ABSOLUTE
    step: float | None = None
    pickup: bool = True

    @property
    def param(self) -> str:
        """The target as the file spells it."""
        return str(self.target)


@dataclass(frozen=True, slots=True)
class ButtonMapping:
    number: int
    kind: str  # "note" | "cc"
    mode: ButtonMode
    channel: int | None = None
    target: Target | None = None  # momentary / toggle: what is set; learn: what is learned
    action: Action | None = None
    on: float | str | None = None
    off: float | str | None = None

    @property
    def param(self) -> str:
        """The target as the file spells it; '' for an action without one."""
        return "" if self.target is None else str(self.target)


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
    return parse_target(target) is not None


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
    target = parse_target(param) if isinstance(param, str) else None
    _expect(target is not None, source, f"{key}.param",
            "a parameter name, prompt/<i>/weight or lfo/<param>/depth|rate", param)
    assert target is not None
    rng = target.default_range()
    lo = _num(item["min"], source, f"{key}.min") if "min" in item else None
    hi = _num(item["max"], source, f"{key}.max") if "max" in item else None
    spec = REGISTRY.get(param)
    if spec is not None and spec.numeric:
        for name, v in (("min", lo), ("max", hi)):
            _expect(v is None or spec.minimum <= v <= spec.maximum, source, f"{key}.{name}",
                    f"a value in {spec.minimum:g}..{spec.maximum:g} (the range of {param})", v)
    if isinstance(target, LfoTarget):  # an LFO knob's ends are held to what a preset allows that field
        for name, v in (("min", lo), ("max", hi)):
            problem = lfo_field_problem(target.field, v) if v is not None else None
            _expect(problem is None, source, f"{key}.{name}", f"{problem} (an LFO {target.field}, as in a preset)", v)
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
    return CcMapping(control=control, target=target, channel=_channel(item, source, key), min=lo, max=hi,
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
    target = parse_target(param) if isinstance(param, str) else None
    if mode is ButtonMode.TRIGGER:
        _expect("action" in item, source, f"{key}.action", f"one of {', '.join(a.value for a in Action)}", "nothing")
        action = _enum(Action, item["action"], source, f"{key}.action")
        if action is Action.LEARN:
            _expect(target is not None, source, f"{key}.param",
                    "the target to learn (a parameter, prompt/<i>/weight or lfo/<param>/depth)", param)
        else:
            _expect("param" not in item, source, f"{key}.param", f"no param for action {action.value}", param)
    else:
        _expect("action" not in item, source, f"{key}.action", "no action for a momentary / toggle button",
                item.get("action"))
        _expect(target is not None, source, f"{key}.param",
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
    return ButtonMapping(number=number, kind=kind, mode=mode, channel=_channel(item, source, key), target=target,
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

