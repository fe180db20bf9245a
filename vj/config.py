"""Presets: TOML files holding only overrides of the defaults, parsed into frozen dataclasses.

A preset is refused whole, never half-applied: an unknown key, a wrong type or an
out-of-range value raises `ConfigError` naming the file, the key path, what was expected
and what was found. The values are checked by the dataclasses themselves (`__post_init__`,
vj.config_checks), so a config built in code is refused just the same, naming its class.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from vj.choices import CFG_MODES, CONTROL_KINDS, LFO_SHAPES, LFO_UNITS, QUANTISE_MODES
from vj.config_audio import AnalysisConfig, AudioModConfig, OnsetConfig
from vj.config_checks import (
    check_instance,
    check_items,
    check_numeric_param_names,
    check_params,
    check_range,
    check_scalar_fields,
    check_strings,
    config_field,
    join,
    multiple_of,
    one_of,
)
from vj.depth_sources import check_depth_source
from vj.errors import ConfigError
from vj.preset_rules import check_across_tables
from vj.prompt_mix import MAX_PROMPT_WEIGHT, PromptEntry, PromptMix, prompt_text_problem
from vj.reference_config import ReferenceConfig
from vj.registry import MAX_CONTROLNETS, MAX_LORAS, ParamValue
from vj.schedule.ends import ScheduleEnd
from vj.schedule.keyframes import compile_preset_schedules
from vj.schedule.prompts import compile_preset_prompt_schedule

DEFAULT_MODEL = "stabilityai/sd-turbo"
DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float16", "bfloat16", "float32")
COMPILE_MODES = ("off", "auto", "jit", "aot")
# The backends vj.engine.backends.loaders can load (a test keeps the two lists equal).
BACKENDS = ("diffusers", "tensorrt")
SCHEDULE_END = tuple(end.value for end in ScheduleEnd)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoraConfig:
    source: str = config_field("", doc="Hugging Face id, folder holding one .safetensors, or a .safetensors file")
    scale: float = config_field(1.0, check_range(-4.0, 4.0), "adapter strength (live: lora/<i>/scale)")

    def __post_init__(self) -> None:
        check_scalar_fields(self)
        if not self.source.strip():
            raise ConfigError(type(self).__name__, "source", "a LoRA id, folder or .safetensors file", "''")


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlNetConfig:
    source: str = config_field("", doc="ControlNet: Hugging Face id, diffusers folder, or 'tiny' (random, tests)")
    conditioning: str = config_field("canny", one_of(CONTROL_KINDS),
                                     "its picture: depth, canny (edges), input (the input picture) or feedback "
                                     "(the previous frame)")
    scale: float = config_field(1.0, check_range(0.0, 2.0),
                                "residual strength; the base of the live controlnet_<i>_scale (times the master "
                                "controlnet_scale)")

    def __post_init__(self) -> None:
        check_scalar_fields(self)
        if not self.source.strip():
            raise ConfigError(type(self).__name__, "source", "a ControlNet id, folder or 'tiny'", "''")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    source: str = config_field(DEFAULT_MODEL,
                               doc="Hugging Face id, local diffusers folder, .safetensors file, or 'tiny'")
    tiny_vae: str = config_field("", doc="TAESD id or path ('' = the model's own VAE)")
    device: str = config_field("auto", one_of(DEVICES), "auto picks cuda, then mps, then cpu")
    dtype: str = config_field("auto", one_of(DTYPES), "auto: float16 on GPU, float32 on CPU")
    compile: str = config_field("off", one_of(COMPILE_MODES),
                                "off | auto (jit on CUDA, aot elsewhere) | jit (torch.compile, CUDA graphs on GPU) | "
                                "aot (AOTInductor packages, compiled once per size and cached on disk)")
    backend: str = config_field("diffusers", one_of(BACKENDS),
                                "how the model runs: diffusers (PyTorch) or tensorrt (engines from `vj build-engines`)")
    cfg: str = config_field("rcfg-self", one_of(CFG_MODES),
                            "guidance > 1: rcfg-self (residual CFG, 1 UNet call a step) | rcfg-initialize "
                            "(the negative prompt evaluated on the first step only) | full (batch 2)")
    rcfg_delta: float = config_field(1.0, check_range(0.0, 2.0), "residual CFG: scale of the virtual negative")
    # Tuning switches, default off: measured on a GPU by benchmarks/gpu_loop.py; kept only if faster.
    cudnn_benchmark: bool = config_field(False, doc="cuDNN times its convolution algorithms per shape (CUDA)")
    channels_last: bool = config_field(False, doc="NHWC memory format for the UNet and VAE")
    fuse_qkv: bool = config_field(False, doc="fused QKV projections in the UNet's attention layers")
    loras: tuple[LoraConfig, ...] = config_field((), doc="LoRAs fused into the model ({source = ..., scale = ...})")
    ip_adapter: str = config_field("", doc="IP-Adapter: Hugging Face id, local folder, .safetensors file, or 'tiny' "
                                           "('' = none); steered by reference pictures and ip_adapter_scale")

    def __post_init__(self) -> None:
        check_items(self, "loras", LoraConfig, (MAX_LORAS, "LoRAs"))  # each has a live lora_<i>_scale
        check_scalar_fields(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class DepthConfig:
    """The depth model of the 3D warp (vj.engine.warp.depth_estimator), checked before anything loads."""

    model: str = config_field("", check_depth_source,
                              "'' (Depth Anything V2 Small; 'tiny' with the tiny model), a Hugging Face id, a local "
                              "folder, 'tiny', 'none' (a flat plane) or a Deforum depth_algorithm name")
    resolution: int = config_field(252, check_range(14, 2048), "longer side the depth model sees, in pixels")
    every_n: int = config_field(1, check_range(1, 240), "estimate depth every N frames (reuse it in between)")
    ema: float = config_field(0.5, check_range(0.0, 0.99), "fraction of the last depth map kept (0 = no smoothing)")

    def __post_init__(self) -> None:
        check_scalar_fields(self)


# The engine's frame size limits (a side in pixels); the model may need a coarser multiple.
FRAME_SIDE_MULTIPLE, FRAME_SIDE_MIN, FRAME_SIDE_MAX = 8, 64, 2048


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderConfig:
    """The size limits here are the engine's; the model may need a coarser multiple (vj.engine.backends.sizes)."""

    width: int = config_field(512, multiple_of(FRAME_SIDE_MULTIPLE, FRAME_SIDE_MIN, FRAME_SIDE_MAX),
                              "frame width in pixels")
    height: int = config_field(512, multiple_of(FRAME_SIDE_MULTIPLE, FRAME_SIDE_MIN, FRAME_SIDE_MAX),
                               "frame height in pixels")
    fps: float = config_field(24.0, check_range(1.0, 240.0), "reference fps of motion; output rate")
    frames: int = config_field(240, check_range(1, 1_000_000), "frame count of an offline render")
    target_fps: float = config_field(0.0, check_range(0.0, 240.0), "a live show holds this frame rate by "
                                     "stepping size, steps, depth refresh and cadence down (0 = off)")

    def __post_init__(self) -> None:
        check_scalar_fields(self)


def _check_prompt_text(config: Any, name: str) -> None:
    """The preset side of vj.prompt_mix.prompt_text_problem (live writes call it directly)."""
    problem = prompt_text_problem(getattr(config, name))
    if problem is not None:
        raise ConfigError(type(config).__name__, name, problem[1], problem[2])


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptItem:
    text: str = config_field("", doc="prompt text")
    weight: float = config_field(1.0, check_range(0.0, MAX_PROMPT_WEIGHT), "blend weight")

    def __post_init__(self) -> None:
        check_scalar_fields(self)
        _check_prompt_text(self, "text")


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptsConfig:
    mix: tuple[PromptItem, ...] = config_field((), doc="weighted prompts blended in embedding space")
    negative: str = config_field("", doc="negative prompt (used when guidance > 1)")

    def __post_init__(self) -> None:
        check_items(self, "mix", PromptItem)
        check_scalar_fields(self)
        _check_prompt_text(self, "negative")

    def to_mix(self) -> PromptMix:
        return PromptMix(tuple(PromptEntry(p.text, p.weight) for p in self.mix), self.negative)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleConfig:
    end: str = config_field("hold", one_of(SCHEDULE_END), "after the last keyframe: hold the value or loop")
    max_frames: int = config_field(0, check_range(0, 1_000_000), "schedule length; 0 = render.frames")

    def __post_init__(self) -> None:
        check_scalar_fields(self)


# ---- tempo and LFOs: an optional [modulators] table (installed into a store by vj.session.presets)
LFO_RATE_RANGE = (0.01, 1000.0)  # beats per cycle or Hz: beyond these the wave's arithmetic overflows
LFO_LEVEL_RANGE = (-1e6, 1e6)  # depth and offset, in the parameter's units


@dataclass(frozen=True, slots=True, kw_only=True)
class LfoConfig:
    shape: str = config_field("sine", one_of(LFO_SHAPES), "sine, triangle, square, saw or random_smooth")
    rate: float = config_field(4.0, check_range(*LFO_RATE_RANGE),
                               "beats per cycle (unit = beats) or cycles per second (hz)")
    unit: str = config_field("beats", one_of(LFO_UNITS), "beats (synced to the tempo) or hz (free-running)")
    depth: float = config_field(0.0, check_range(*LFO_LEVEL_RANGE), "amplitude in the parameter's own units")
    offset: float = config_field(0.0, check_range(*LFO_LEVEL_RANGE), "constant added to the wave, parameter units")
    phase: float = config_field(0.0, check_range(0.0, 1.0), "start of the cycle, 0..1")

    def __post_init__(self) -> None:
        check_scalar_fields(self)


def lfo_field_problem(name: str, value: float) -> str | None:
    """What a preset's [modulators.lfo.*] `name` must be, if `value` is not it (None when it is fine).

    The one rule for an LFO number: presets apply it through `LfoConfig`, live writes through
    vj.control.modulators.check_lfo_field.
    """
    check = _LFO_CHECKS[name]
    return check(value) if check is not None else None


_LFO_CHECKS = {f.name: f.metadata.get("check") for f in dataclasses.fields(LfoConfig)}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModulatorsConfig:
    bpm: float = config_field(120.0, check_range(20.0, 300.0), "tempo until tap, MIDI clock or /vj/bpm changes it")
    beats_per_bar: int = config_field(4, check_range(1, 16), "beats in a bar (bar quantisation, LFO bars)")
    quantise: str = config_field("off", one_of(QUANTISE_MODES), "where prompt, preset and seed switches land")
    lookahead_ms: float = config_field(0.0, check_range(0.0, 1000.0), "land quantised changes this much early")
    link: bool = config_field(False, doc="follow an Ableton Link session (vj run; needs vj[link])")
    lfo: Mapping[str, LfoConfig] = field(default_factory=lambda: MappingProxyType({}))
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    audio: Mapping[str, AudioModConfig] = field(default_factory=lambda: MappingProxyType({}))
    onset: OnsetConfig = field(default_factory=OnsetConfig)

    def __post_init__(self) -> None:
        check_scalar_fields(self)
        check_numeric_param_names(self, "lfo", LfoConfig)
        check_instance(self, "analysis", AnalysisConfig)
        check_instance(self, "onset", OnsetConfig)
        check_numeric_param_names(self, "audio", AudioModConfig)
        for name, mod in self.audio.items():
            if mod.source not in self.analysis.sources:
                raise ConfigError(type(self).__name__, join(join("audio", name), "source"),
                                  f"one of {', '.join(self.analysis.sources)}", mod.source)


def _build_per_param(cls: type, values: Any, source: str, path: str) -> Mapping[str, Any]:
    """Each [modulators.lfo.<param>] / [modulators.audio.<param>] table as `cls`; ModulatorsConfig checks names."""
    if not isinstance(values, Mapping):
        raise ConfigError(source, path, f"a table of [{path}.<param>] tables", values)
    return {name: _build(cls, table, source, join(path, name)) for name, table in values.items()}
# ---- end of tempo and LFOs


# ---- outside pictures: an optional [input] table (read by vj.input, handed to the engine by vj.session)
INPUT_MODES = ("loop", "once")
INPUT_SYNCS = ("time", "frame")
COLOR_ANCHORS = ("frame", "input", "image")


@dataclass(frozen=True, slots=True, kw_only=True)
class InputConfig:
    """The input picture (`video_mix` mixes it in), an init image and the colour anchor."""

    source: str = config_field("", doc="webcam[:N], ndi:NAME, an image or a video file ('' = no input)")
    mode: str = config_field("loop", one_of(INPUT_MODES), "a clip at its end: loop, or once (hold the last frame)")
    sync: str = config_field("time", one_of(INPUT_SYNCS),
                             "offline clip: time (at its own speed) or frame (one clip frame per render frame)")
    every_nth: int = config_field(1, check_range(1, 10_000), "sync frame: take every Nth clip frame (Deforum)")
    from_frame: int = config_field(0, check_range(0, 10_000_000), "first clip frame used")
    to_frame: int = config_field(-1, check_range(-1, 10_000_000), "last clip frame used; -1 = the end")
    init_image: str = config_field("", doc="image the first frame starts from ('' = text-to-image)")
    init_strength: float = config_field(0.8, check_range(0.0, 1.0), "fraction of the init image kept on frame 0")
    color_anchor: str = config_field("frame", one_of(COLOR_ANCHORS),
                                     "colour coherence matches toward: frame (the first generated), input (the "
                                     "input picture, each diffused frame) or image (color_image)")
    color_image: str = config_field("", doc="the fixed image of color_anchor = image")

    def __post_init__(self) -> None:
        check_scalar_fields(self)
        if self.source:
            from vj.input.spec import InputError, parse_source

            try:
                parse_source(self.source, "source")
            except InputError as err:
                raise ConfigError(type(self).__name__, "source", str(err).partition(": expected ")[2] or
                                  "webcam[:N], ndi:NAME, an image or a video file", self.source) from None
        if self.color_anchor == "image" and not self.color_image:
            raise ConfigError(type(self).__name__, "color_image", "an image file for color_anchor = 'image'", "''")
        if self.color_anchor == "input" and not self.source:
            raise ConfigError(type(self).__name__, "color_anchor", "'frame' or 'image' without an input source",
                              "'input'")
# ---- end of outside pictures


@dataclass(frozen=True, slots=True, kw_only=True)
class PresetConfig:
    name: str = config_field("untitled")
    description: str = config_field("")
    model: ModelConfig = field(default_factory=ModelConfig)
    depth: DepthConfig = field(default_factory=DepthConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    params: Mapping[str, ParamValue] = field(default_factory=lambda: MappingProxyType({}))
    schedules: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    prompt_schedule: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    modulators: ModulatorsConfig = field(default_factory=ModulatorsConfig)
    input: InputConfig = field(default_factory=InputConfig)
    controlnet: tuple[ControlNetConfig, ...] = config_field((), doc="ControlNets ([[controlnet]] tables)")
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    source_path: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        check_scalar_fields(self)
        for name, cls in _NESTED.items():
            check_instance(self, name, cls)
        check_params(self, "params")
        check_strings(self, "schedules")
        check_strings(self, "prompt_schedule")
        check_items(self, "controlnet", ControlNetConfig, (MAX_CONTROLNETS, "ControlNets"))  # controlnet_<i>_scale
        check_across_tables(self)

    def replace(self, **changes: Any) -> PresetConfig:
        return dataclasses.replace(self, **changes)

    def with_overrides(self, *, model: str | None = None, width: int | None = None, height: int | None = None,
                       fps: float | None = None, steps: int | None = None, seed: int | None = None,
                       device: str | None = None, tiny_vae: str | None = None,
                       compile: str | None = None, dtype: str | None = None, guidance: float | None = None,
                       sampler: str | None = None, strength: float | None = None, backend: str | None = None,
                       cfg: str | None = None, loras: list[tuple[str, float]] | None = None,
                       depth_model: str | None = None,
                       controlnets: list[tuple[str, str, float]] | None = None, ip_adapter: str | None = None,
                       references: list[tuple[str, float]] | None = None,
                       reference_folder: str | None = None) -> PresetConfig:
        """Apply the CLI's common overrides, validated exactly like preset values."""
        source = "command line"
        named = (("source", model), ("device", device), ("tiny_vae", tiny_vae), ("compile", compile), ("dtype", dtype),
                 ("backend", backend), ("cfg", cfg), ("ip_adapter", ip_adapter))
        model_changes: dict[str, Any] = {k: v for k, v in named if v is not None}
        if loras:  # added to the preset's own LoRAs
            extra = tuple(_construct(LoraConfig, {"source": s, "scale": w}, source, "model.loras") for s, w in loras)
            model_changes["loras"] = (*self.model.loras, *extra)
        render_changes = {k: v for k, v in (("width", width), ("height", height), ("fps", fps)) if v is not None}
        param_changes = {k: v for k, v in (("steps", steps), ("seed", seed), ("guidance", guidance),
                                           ("sampler", sampler), ("strength", strength)) if v is not None}
        model_cfg = _construct(ModelConfig, {**_asdict(self.model), **model_changes}, source, "model")
        render_cfg = _construct(RenderConfig, {**_asdict(self.render), **render_changes}, source, "render")
        depth_changes = {"model": depth_model} if depth_model is not None else {}
        depth_cfg = _construct(DepthConfig, {**_asdict(self.depth), **depth_changes}, source, "depth")
        changes: dict[str, Any] = {"model": model_cfg, "render": render_cfg, "depth": depth_cfg,
                                   "params": {**self.params, **param_changes}}
        if controlnets:  # added to the preset's own ControlNets
            changes["controlnet"] = (*self.controlnet, *(
                _construct(ControlNetConfig, {"source": s, "conditioning": k, "scale": w}, source, "controlnet")
                for s, k, w in controlnets))
        reference_changes: dict[str, Any] = {} if reference_folder is None else {"folder": reference_folder}
        if references:  # replace the preset's pictures
            reference_changes.update(images=tuple(r for r, _ in references), weights=tuple(w for _, w in references))
        if reference_changes:
            changes["reference"] = _construct(ReferenceConfig, {**_asdict(self.reference), **reference_changes},
                                              source, "reference")
        return _construct(PresetConfig, {**_asdict(self), **changes}, source, "")


def _asdict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


# The PresetConfig fields that hold a nested config (a TOML table of its own).
_NESTED: dict[str, type] = {
    "model": ModelConfig,
    "depth": DepthConfig,
    "render": RenderConfig,
    "prompts": PromptsConfig,
    "schedule": ScheduleConfig,
    "modulators": ModulatorsConfig,
    "input": InputConfig,
    "reference": ReferenceConfig,
}


_PER_PARAM: dict[str, type] = {"Mapping[str, LfoConfig]": LfoConfig, "Mapping[str, AudioModConfig]": AudioModConfig}
_MODULATOR_TABLES: dict[str, type] = {"AnalysisConfig": AnalysisConfig, "OnsetConfig": OnsetConfig}


def _construct(cls: type, kwargs: Mapping[str, Any], source: str, path: str) -> Any:
    """`cls(**kwargs)`; its own refusal is re-raised naming `source` and the full key path."""
    try:
        return cls(**kwargs)
    except ConfigError as err:
        if err.source != cls.__name__:
            raise
        raise ConfigError(source, join(path, err.key_path), err.expected, err.found) from err


def _build(cls: type, data: Any, source: str, path: str) -> Any:
    """Build the frozen dataclass `cls` from a TOML table, refusing anything unexpected.

    The loader only shapes TOML tables and arrays into config objects; the values are
    checked by the classes themselves.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(source, path, f"a table of {cls.__name__} keys", data)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "source_path"}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ConfigError(source, join(path, unknown[0]), f"one of the keys {', '.join(sorted(fields))}",
                          f"unknown key {unknown[0]!r}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = join(path, name)
        hint = str(fields[name].type)
        if cls is PresetConfig and name in _NESTED:
            kwargs[name] = _build(_NESTED[name], value, source, key)
        elif hint == "tuple[PromptItem, ...]":
            if not isinstance(value, list):
                raise ConfigError(source, key, "an array of prompt tables ({text = ..., weight = ...})", value)
            for i, item in enumerate(value):
                if isinstance(item, Mapping) and "text" not in item:  # a weight alone prompts for nothing
                    raise ConfigError(source, f"{key}[{i}].text", "a prompt text", "no text key")
            kwargs[name] = tuple(_build(PromptItem, item, source, f"{key}[{i}]") for i, item in enumerate(value))
        elif hint == "tuple[LoraConfig, ...]":
            if not isinstance(value, list):
                raise ConfigError(source, key, "an array of LoRA tables ({source = ..., scale = ...})", value)
            kwargs[name] = tuple(_build(LoraConfig, item, source, f"{key}[{i}]") for i, item in enumerate(value))
        elif hint == "tuple[ControlNetConfig, ...]":
            if not isinstance(value, list):
                raise ConfigError(source, key, "an array of [[controlnet]] tables", value)
            kwargs[name] = tuple(_build(ControlNetConfig, item, source, f"{key}[{i}]") for i, item in enumerate(value))
        elif hint in _PER_PARAM:
            kwargs[name] = _build_per_param(_PER_PARAM[hint], value, source, key)
        elif hint in _MODULATOR_TABLES:
            kwargs[name] = _build(_MODULATOR_TABLES[hint], value, source, key)
        elif hint == "tuple[float, ...]" or hint == "tuple[str, ...]":
            if not isinstance(value, list):
                raise ConfigError(source, key, "an array", value)
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return _construct(cls, kwargs, source, path)


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
