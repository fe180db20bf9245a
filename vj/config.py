"""Presets: TOML files holding only overrides of the defaults, parsed into frozen dataclasses.

A preset is refused whole, never half-applied: an unknown key, a wrong type or an
out-of-range value raises `ConfigError` naming the file, the key path, what was expected
and what was found.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vj.errors import ConfigError, ParamRejected
from vj.prompt_mix import MAX_PROMPT_CHARS, MAX_PROMPT_WEIGHT, PromptEntry, PromptMix
from vj.registry import REGISTRY, ParamValue
from vj.schedule.ends import ScheduleEnd
from vj.schedule.keyframes import compile_preset_schedules
from vj.schedule.prompts import compile_preset_prompt_schedule

DEFAULT_MODEL = "stabilityai/sd-turbo"
DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float16", "bfloat16", "float32")
COMPILE_MODES = ("off", "auto", "jit", "aot")
SCHEDULE_END = tuple(end.value for end in ScheduleEnd)


def _check_range(lo: float, hi: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if lo <= value <= hi else f"a value in {lo:g}..{hi:g}"
    return check


def _multiple_of(n: int, lo: int, hi: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if lo <= value <= hi and value % n == 0 else f"a multiple of {n} in {lo}..{hi}"
    return check


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value in choices or (value.startswith("cuda:") and "cuda" in choices and value[5:].isdigit()):
            return None
        return f"one of {', '.join(choices)}"
    return check


def _field(default: Any, check: Callable[[Any], str | None] | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"check": check, "doc": doc})


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    source: str = _field(DEFAULT_MODEL, doc="Hugging Face id, local diffusers folder, .safetensors file, or 'tiny'")
    tiny_vae: str = _field("", doc="TAESD id or path ('' = the model's own VAE)")
    device: str = _field("auto", _one_of(DEVICES), "auto picks cuda, then mps, then cpu")
    dtype: str = _field("auto", _one_of(DTYPES), "auto: float16 on GPU, float32 on CPU")
    compile: str = _field("off", _one_of(COMPILE_MODES),
                          "off | auto (jit on CUDA, aot elsewhere) | jit (torch.compile, CUDA graphs on GPU) | "
                          "aot (AOTInductor packages, compiled once per size and cached on disk)")


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderConfig:
    width: int = _field(512, _multiple_of(8, 64, 2048), "frame width in pixels")
    height: int = _field(512, _multiple_of(8, 64, 2048), "frame height in pixels")
    fps: float = _field(24.0, _check_range(1.0, 240.0), "reference fps of motion; output rate")
    frames: int = _field(240, _check_range(1, 1_000_000), "frame count of an offline render")


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptItem:
    text: str = _field("", doc="prompt text")
    weight: float = _field(1.0, _check_range(0.0, MAX_PROMPT_WEIGHT), "blend weight")


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptsConfig:
    mix: tuple[PromptItem, ...] = _field((), doc="weighted prompts blended in embedding space")
    negative: str = _field("", doc="negative prompt (used when guidance > 1)")

    def to_mix(self) -> PromptMix:
        return PromptMix(tuple(PromptEntry(p.text, p.weight) for p in self.mix), self.negative)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleConfig:
    end: str = _field("hold", _one_of(SCHEDULE_END), "after the last keyframe: hold the value or loop")
    max_frames: int = _field(0, _check_range(0, 1_000_000), "schedule length; 0 = render.frames")


# ---- tempo and LFOs: an optional [modulators] table (installed into a store by vj.session.presets)
LFO_SHAPES = ("sine", "triangle", "square", "saw", "random_smooth")
LFO_UNITS = ("beats", "hz")
QUANTISE_MODES = ("off", "beat", "bar", "2bars", "4bars")


@dataclass(frozen=True, slots=True, kw_only=True)
class LfoConfig:
    shape: str = _field("sine", _one_of(LFO_SHAPES), "sine, triangle, square, saw or random_smooth")
    rate: float = _field(4.0, _check_range(0.01, 1000.0), "beats per cycle (unit = beats) or cycles per second (hz)")
    unit: str = _field("beats", _one_of(LFO_UNITS), "beats (synced to the tempo) or hz (free-running)")
    depth: float = _field(0.0, _check_range(-1e6, 1e6), "amplitude in the parameter's own units")
    offset: float = _field(0.0, _check_range(-1e6, 1e6), "constant added to the wave, parameter units")
    phase: float = _field(0.0, _check_range(0.0, 1.0), "start of the cycle, 0..1")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModulatorsConfig:
    bpm: float = _field(120.0, _check_range(20.0, 300.0), "tempo until tap, MIDI clock or /vj/bpm changes it")
    beats_per_bar: int = _field(4, _check_range(1, 16), "beats in a bar (bar quantisation, LFO bars)")
    quantise: str = _field("off", _one_of(QUANTISE_MODES), "where prompt, preset and seed switches land")
    lookahead_ms: float = _field(0.0, _check_range(0.0, 1000.0), "land quantised changes this much early")
    lfo: Mapping[str, LfoConfig] = field(default_factory=lambda: MappingProxyType({}))


def _build_lfos(values: Any, source: str, path: str) -> Mapping[str, LfoConfig]:
    if not isinstance(values, Mapping):
        raise ConfigError(source, path, "a table of [modulators.lfo.<param>] tables", values)
    lfos: dict[str, LfoConfig] = {}
    for name, table in values.items():
        spec = REGISTRY.get(name)
        if spec is None or not spec.numeric:
            raise ConfigError(source, _join(path, name), "a numeric parameter name (see `vj params`)",
                              f"unknown key {name!r}" if spec is None else f"text parameter {name!r}")
        lfos[name] = _build(LfoConfig, table, source, _join(path, name))
    return MappingProxyType(lfos)
# ---- end of tempo and LFOs


@dataclass(frozen=True, slots=True, kw_only=True)
class PresetConfig:
    name: str = _field("untitled")
    description: str = _field("")
    model: ModelConfig = field(default_factory=ModelConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    params: Mapping[str, ParamValue] = field(default_factory=lambda: MappingProxyType({}))
    schedules: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    prompt_schedule: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    modulators: ModulatorsConfig = field(default_factory=ModulatorsConfig)
    source_path: str = field(default="", compare=False)

    def replace(self, **changes: Any) -> PresetConfig:
        return dataclasses.replace(self, **changes)

    def with_overrides(self, *, model: str | None = None, width: int | None = None, height: int | None = None,
                       fps: float | None = None, steps: int | None = None, seed: int | None = None,
                       device: str | None = None, tiny_vae: str | None = None,
                       compile: str | None = None) -> PresetConfig:
        """Apply the CLI's common overrides, validated exactly like preset values."""
        source = "command line"
        model_changes = {k: v for k, v in (("source", model), ("device", device), ("tiny_vae", tiny_vae),
                                           ("compile", compile)) if v is not None}
        render_changes = {k: v for k, v in (("width", width), ("height", height), ("fps", fps)) if v is not None}
        param_changes = {k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None}
        model_cfg = _build(ModelConfig, {**_asdict(self.model), **model_changes}, source, "model")
        render_cfg = _build(RenderConfig, {**_asdict(self.render), **render_changes}, source, "render")
        params = _build_params({**self.params, **param_changes}, source)
        return dataclasses.replace(self, model=model_cfg, render=render_cfg, params=params)


def _asdict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _coerce(kind: Any, value: Any, source: str, key: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif kind is str and isinstance(value, str):
        return value
    raise ConfigError(source, key, _TYPE_NAMES.get(kind, str(kind)), value)


def _build(cls: type, data: Any, source: str, path: str) -> Any:
    """Build the frozen dataclass `cls` from a TOML table, refusing anything unexpected."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, path, f"a table of {cls.__name__} keys", data)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "source_path"}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ConfigError(source, _join(path, unknown[0]), f"one of the keys {', '.join(sorted(fields))}",
                          f"unknown key {unknown[0]!r}")
    kwargs: dict[str, Any] = {}
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    for name, value in data.items():
        key = _join(path, name)
        hint = hints[name]
        nested = _NESTED.get(str(hint))
        if nested is not None:
            kwargs[name] = _build(nested, value, source, key)
            continue
        if str(hint) == "tuple[PromptItem, ...]":
            if not isinstance(value, list):
                raise ConfigError(source, key, "an array of prompt tables ({text = ..., weight = ...})", value)
            items = []
            for i, item in enumerate(value):
                built = _build(PromptItem, item, source, f"{key}[{i}]")
                if len(built.text) > MAX_PROMPT_CHARS:
                    raise ConfigError(source, f"{key}[{i}].text", f"at most {MAX_PROMPT_CHARS} characters",
                                      f"{len(built.text)} characters")
                items.append(built)
            kwargs[name] = tuple(items)
            continue
        if str(hint) == "Mapping[str, LfoConfig]":
            kwargs[name] = _build_lfos(value, source, key)
            continue
        if str(hint) == "Mapping[str, ParamValue]":
            kwargs[name] = _build_params(value, source, key)
            continue
        if str(hint) == "Mapping[str, str]":
            if not isinstance(value, Mapping):
                raise ConfigError(source, key, "a table of strings", value)
            for k, v in value.items():
                if not isinstance(v, str):
                    raise ConfigError(source, _join(key, k), "a string", v)
            kwargs[name] = MappingProxyType(dict(value))
            continue
        kind = {"str": str, "int": int, "float": float, "bool": bool}[str(hint)]
        coerced = _coerce(kind, value, source, key)
        check = fields[name].metadata.get("check")
        problem = check(coerced) if check else None
        if problem:
            raise ConfigError(source, key, problem, value)
        kwargs[name] = coerced
    return cls(**kwargs)


def _build_params(values: Any, source: str, path: str = "params") -> Mapping[str, ParamValue]:
    if not isinstance(values, Mapping):
        raise ConfigError(source, path, "a table of parameter values", values)
    good: dict[str, ParamValue] = {}
    for name, value in values.items():
        key = _join(path, name)
        spec = REGISTRY.get(name)
        if spec is None:
            raise ConfigError(source, key, "a parameter name (see `vj params`)", f"unknown key {name!r}")
        if spec.numeric and isinstance(value, str):
            raise ConfigError(source, key, f"a number in {spec.minimum:g}..{spec.maximum:g}", value)
        try:
            good[name] = spec.validate(value)
        except ParamRejected as err:
            expected = (f"one of {', '.join(spec.choices)}" if spec.choices
                        else f"a number in {spec.minimum:g}..{spec.maximum:g} {spec.unit}".rstrip())
            raise ConfigError(source, key, expected, value) from err
    return MappingProxyType(good)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_NESTED: dict[str, type] = {
    "ModulatorsConfig": ModulatorsConfig,
    "ModelConfig": ModelConfig,
    "RenderConfig": RenderConfig,
    "PromptsConfig": PromptsConfig,
    "ScheduleConfig": ScheduleConfig,
}

def parse_preset(text: str, source: str = "<string>") -> PresetConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(source, "", "valid TOML", str(err)) from err
    preset_table = data.pop("preset", {})
    if not isinstance(preset_table, Mapping):
        raise ConfigError(source, "preset", "a table with name and description", preset_table)
    for key in preset_table:
        if key not in ("name", "description"):
            raise ConfigError(source, f"preset.{key}", "one of the keys description, name", f"unknown key {key!r}")
    merged = {**preset_table, **data}
    preset: PresetConfig = _build(PresetConfig, merged, source, "")
    preset = dataclasses.replace(preset, source_path=source)
    # A bad schedule refuses the preset with file, key path and column, before anything runs.
    compile_preset_schedules(preset)
    compile_preset_prompt_schedule(preset)
    return preset


def presets_dir() -> Path:
    """Presets shipped with the package (wheel) or beside it (source checkout)."""
    packaged = Path(__file__).parent / "presets"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "presets"


def list_presets() -> list[Path]:
    return sorted(presets_dir().glob("*.toml"))


def resolve_preset_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.is_file():
        return path
    if path.is_file():
        return path
    shipped = presets_dir() / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    names = ", ".join(p.stem for p in list_presets())
    raise ConfigError(name_or_path, "", f"a preset file or one of the shipped presets ({names})", "no such file")


def load_preset(name_or_path: str) -> PresetConfig:
    path = resolve_preset_path(name_or_path)
    return parse_preset(path.read_text(encoding="utf-8"), str(path))
