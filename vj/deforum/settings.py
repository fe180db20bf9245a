"""Deforum settings (the flat dict of a `*_settings.txt`) → a vj preset.

The flat JSON `*_settings.txt` that sd-webui-deforum and the Deforum notebook save (and an
Astria file, once `vj.deforum.astria` has turned it into the same dict) becomes a dict
shaped like a vj preset TOML, which goes through `parse_preset`, so an
imported file is validated exactly like a preset (and `vj convert` writes that same dict).
Every key vj does not implement is listed in ONE warning, never silently dropped.
Missing keys take sd-webui-deforum's defaults, as the web UI does when it loads a file.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from vj.config import PresetConfig, parse_preset
from vj.deforum.stray_keys import read_stray_keys
from vj.deforum.video_input import VIDEO_INPUT, convert_inputs
from vj.depth_sources import DEFORUM_DEPTH_ALGORITHMS, NO_DEPTH
from vj.errors import ConfigError
from vj.registry import REGISTRY, SEED_MODULUS
from vj.schedule.expressions import ExpressionError
from vj.schedule.keyframes import ParsedSchedule, parse_schedule

log = logging.getLogger(__name__)

# sd-webui-deforum defaults (reference snapshot 32242685) for the keys vj maps.
DEFORUM_DEFAULTS: Mapping[str, Any] = {
    "W": 512, "H": 512, "fps": 15, "max_frames": 120, "animation_mode": "2D", "border": "replicate",
    "angle": "0: (0)", "zoom": "0: (1.0025+0.002*sin(1.25*3.14*t/30))", "translation_x": "0: (0)",
    "translation_y": "0: (0)", "translation_z": "0: (1.75)", "transform_center_x": "0: (0.5)",
    "transform_center_y": "0: (0.5)", "rotation_3d_x": "0: (0)", "rotation_3d_y": "0: (0)",
    "rotation_3d_z": "0: (0)", "fov_schedule": "0: (70)", "strength_schedule": "0: (0.65)",
    "noise_schedule": "0: (0.065)", "noise_type": "perlin", "contrast_schedule": "0: (1.0)",
    "cfg_scale_schedule": "0: (7)", "seed": -1, "seed_behavior": "iter", "seed_iter_N": 1,
    "seed_schedule": '0:(s), 1:(-1), "max_f-2":(-1), "max_f-1":(s)', "amount_schedule": "0: (0.1)",
    "sigma_schedule": "0: (1)", "threshold_schedule": "0: (0)", "color_coherence": "LAB",
    "diffusion_cadence": 2, "sampler": "Euler a", "steps": 25, "animation_prompts_positive": "",
    "animation_prompts_negative": "nsfw, nude", "near_schedule": "0: (200)", "far_schedule": "0: (10000)",
    "padding_mode": "border", "sampling_mode": "bicubic",
}

# Deforum schedule key → (vj parameter, unit factor). Deforum's anti-blur threshold is in
# 0-255 pixel levels; vj's is a fraction.
SCHEDULES: Mapping[str, tuple[str, float]] = {
    "angle": ("angle", 1.0), "zoom": ("zoom", 1.0), "translation_x": ("translation_x", 1.0),
    "translation_y": ("translation_y", 1.0), "transform_center_x": ("transform_center_x", 1.0),
    "transform_center_y": ("transform_center_y", 1.0), "strength_schedule": ("strength", 1.0),
    "noise_schedule": ("noise", 1.0), "contrast_schedule": ("contrast", 1.0),
    "cfg_scale_schedule": ("guidance", 1.0), "amount_schedule": ("antiblur_amount", 1.0),
    "sigma_schedule": ("antiblur_sigma", 1.0), "threshold_schedule": ("antiblur_threshold", 1.0 / 255.0),
}
# 3D camera keys: honoured when the registry has the 3D parameters (vj.engine.warp.warp3d).
SCHEDULES_3D: Mapping[str, tuple[str, float]] = {
    "translation_z": ("translation_z", 1.0), "rotation_3d_x": ("rotation_3d_x", 1.0),
    "rotation_3d_y": ("rotation_3d_y", 1.0), "rotation_3d_z": ("rotation_3d_z", 1.0),
    "fov_schedule": ("fov", 1.0), "near_schedule": ("near", 1.0), "far_schedule": ("far", 1.0),
}
# Deforum's 3D grid_sample padding → vj's border mode.
PADDING_MODES = {"border": "replicate", "reflection": "reflect", "zeros": "zeros"}
DEPTH_KEYS = ("padding_mode", "sampling_mode", "depth_algorithm", "use_depth_warping", "midas_weight")
MOTION_2D = ("angle", "zoom")  # ignored by Deforum in 3D mode
MOTION_3D = (*SCHEDULES_3D, *DEPTH_KEYS)
SAMPLERS = {"euler a": "euler_a", "euler_a": "euler_a", "euler_ancestral": "euler_a", "lcm": "lcm"}
# Keys that only name files, folders, UI state or output post-processing: nothing to render.
OUTPUT_ONLY = {
    "batch_name", "outdir", "timestring", "filename_format", "seed_enable_extras", "save_samples",
    "display_samples", "save_sample_per_step", "show_sample_per_step", "save_settings", "save_sample",
    "sd_model_name", "sd_model_hash", "deforum_git_commit_id", "skip_video_creation", "skip_video_for_run_all",
    "make_gif", "fps_out", "output_format", "ffmpeg_location", "ffmpeg_crf", "ffmpeg_preset", "store_frames_in_ram",
    "delete_imgs", "delete_input_frames", "frame_interpolation_engine", "frame_interpolation_x_amount",
    "frame_interpolation_slow_mo_enabled", "frame_interpolation_slow_mo_amount", "frame_interpolation_keep_imgs",
    "frame_interpolation_use_upscaled", "r_upscale_video", "r_upscale_factor", "r_upscale_model", "r_upscale_keep_imgs",
    "render_steps", "path_name_modifier", "image_path", "mp4_path", "add_soundtrack", "soundtrack_path",
    "resume_from_timestring", "resume_timestring", "motion_preview_mode", "n_batch", "batch_size",
    "prompts_path", "models_path", "output_path", "save_depth_maps", "seed_internal", "show_info_on_ui",
}


@dataclass
class ImportResult:
    """The preset (as TOML data and validated), plus what was not carried over."""

    data: dict[str, Any]
    preset: PresetConfig
    unsupported: dict[str, Any] = field(default_factory=dict)  # key → value
    output_only: list[str] = field(default_factory=list)  # file/UI/post-processing keys
    notes: list[str] = field(default_factory=list)  # how something was mapped (seed resolved...)

    def warning_text(self) -> str:
        parts = []
        if self.unsupported:
            active = {k: v for k, v in self.unsupported.items() if not _inactive(v)}
            inactive = sorted(k for k in self.unsupported if k not in active)
            listed = ", ".join(f"{k}={short_value(v)}" for k, v in sorted(active.items()))
            text = f"{len(self.unsupported)} settings vj does not implement were ignored: {listed or '(none active)'}"
            if inactive:
                text += f" (and, switched off in this file: {', '.join(inactive)})"
            parts.append(text)
        if self.output_only:
            parts.append(f"{len(self.output_only)} output/file/UI keys not used by vj: "
                         + ", ".join(sorted(self.output_only)))
        return "; ".join(parts)

    def log_warning(self, source: str) -> None:
        text = self.warning_text()
        if text:
            log.warning("%s: %s", source, text)
        for note in self.notes:
            log.info("%s: %s", source, note)


def _inactive(value: Any) -> bool:
    return value in (None, False, 0, "", "None", "none", "0: (0)", "0:(0)")


def short_value(value: Any, limit: int = 40) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_schedule(value: Any, source: str, key: str) -> str:
    if isinstance(value, bool):
        raise ConfigError(source, key, "a schedule string or a number", value)
    if isinstance(value, (int, float)):
        return f"0: ({value!r})"
    if isinstance(value, str):
        return value
    raise ConfigError(source, key, "a schedule string or a number", value)


def _scaled(parsed: ParsedSchedule, factor: float) -> str:
    """Re-serialise a schedule with every value multiplied by `factor` (literals stay literals)."""
    entries = []
    for key in parsed.keyframes:
        literal = key.numeric  # Deforum's numbers only: a held constant must stay held
        value = f"{literal * factor!r}" if literal is not None else f"({key.value.text})*{factor!r}"
        entries.append(f"{key.frame.text}: ({value})" if key.frame.literal is not None
                       else f'"{key.frame.text}": ({value})')
    return ", ".join(entries)


def _single_literal(parsed: ParsedSchedule) -> float | None:
    keys = parsed.keyframes
    if len(keys) == 1 and keys[0].frame.literal == 0 and keys[0].numeric is not None:
        return keys[0].numeric
    return None


def _int(value: Any, source: str, key: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(source, key, "an integer", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ConfigError(source, key, "an integer", value)


def _prompts_of(settings: Mapping[str, Any], source: str) -> dict[str, str]:
    prompts = settings.get("prompts", settings.get("animation_prompts"))
    if prompts is None:
        return {}
    if isinstance(prompts, str):
        try:
            prompts = json.loads(prompts)
        except json.JSONDecodeError as err:
            raise ConfigError(source, "prompts", "a JSON object of frame → prompt", str(err)) from err
    if not isinstance(prompts, Mapping):
        raise ConfigError(source, "prompts", "an object of frame → prompt", prompts)
    out = {}
    for key, text in prompts.items():
        if not isinstance(text, str):
            raise ConfigError(source, f"prompts.{key}", "a prompt string", text)
        out[str(key)] = text
    return out


def convert_settings(settings: Mapping[str, Any], source: str, *, name: str = "", rng: random.Random | None = None,
                     prompt_crossfade_frames: int = 0) -> ImportResult:
    """Deforum settings (a flat dict) → vj preset data + validated PresetConfig + what was left out."""
    if "rendered_frames" in settings:
        raise ConfigError(source, "rendered_frames", "a Deforum settings file",
                          "a Parseq manifest (not supported; export Deforum settings from Parseq instead)")
    merged = {**DEFORUM_DEFAULTS, **settings}
    defaulted = sorted(k for k in DEFORUM_DEFAULTS if k not in settings)
    unsupported: dict[str, Any] = {}
    notes: list[str] = []
    consumed: set[str] = set()
    origin: dict[str, str] = {}  # vj key path → Deforum key, to name the Deforum key in errors

    def use(key: str) -> Any:
        consumed.add(key)
        return merged[key]

    render: dict[str, Any] = {}
    for key, target in (("W", "width"), ("H", "height"), ("max_frames", "frames")):
        render[target] = _int(use(key), source, key)
        origin[f"render.{target}"] = key
    fps = use("fps")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)):
        raise ConfigError(source, "fps", "a number", fps)
    render["fps"] = float(fps)
    origin["render.fps"] = "fps"

    params: dict[str, Any] = {}
    schedules: dict[str, str] = {}

    mode = str(use("animation_mode"))
    three_d = mode.upper() == "3D"
    has_3d = all(p in REGISTRY for p in ("animation_mode", *(v for v, _ in SCHEDULES_3D.values())))
    if mode.strip().lower() == VIDEO_INPUT:  # no feedback, so no motion to render (vj.deforum.video_input)
        params["animation_mode"] = "2d"
    elif mode.upper() not in ("2D", "3D"):
        unsupported["animation_mode"] = mode
        notes.append(f"animation_mode {mode!r} is not implemented; rendering as 2D")
    elif three_d and has_3d:
        params["animation_mode"] = "3d"
    elif three_d:
        unsupported["animation_mode"] = mode
    elif has_3d:
        params["animation_mode"] = "2d"

    table = dict(SCHEDULES)
    if not three_d:  # Deforum ignores the 3D camera in 2D mode
        consumed.update(MOTION_3D)
    if three_d:
        for key in MOTION_2D:  # Deforum ignores zoom and angle in 3D mode
            table.pop(key)
            consumed.add(key)
        if has_3d:
            table.update(SCHEDULES_3D)
    if merged.get("enable_steps_scheduling") and "steps_schedule" in merged:
        table["steps_schedule"] = ("steps", 1.0)
        consumed.add("enable_steps_scheduling")
    seed_behavior = str(use("seed_behavior")).lower()
    if seed_behavior == "schedule":
        table["seed_schedule"] = ("seed", 1.0)
    else:
        consumed.add("seed_schedule")

    for key, (param, factor) in table.items():
        text = read_stray_keys(_as_schedule(use(key), source, key), source, key, notes)
        parsed = parse_schedule(text, param, source, key)
        if factor != 1.0:
            text = _scaled(parsed, factor)
            parsed = parse_schedule(text, param, source, key)
        value = _single_literal(parsed)
        spec = REGISTRY[param]
        if value is not None and param != "seed" and spec.minimum <= value <= spec.maximum:
            params[param] = int(round(value)) if spec.kind.value == "int" else value
            origin[f"params.{param}"] = key
        else:
            schedules[param] = text
            origin[f"schedules.{param}"] = key

    seed = _int(use("seed"), source, "seed")
    if seed == -1:
        seed = (rng or random.Random()).randrange(SEED_MODULUS)
        notes.append(f"seed -1 (random) resolved to {seed}; pass --seed to choose another")
    params["seed"] = seed
    origin["params.seed"] = "seed"
    params["seed_behavior"] = seed_behavior
    origin["params.seed_behavior"] = "seed_behavior"
    params["seed_iter_n"] = max(_int(use("seed_iter_N"), source, "seed_iter_N"), 1)
    origin["params.seed_iter_n"] = "seed_iter_N"
    params["seed_morph_s"] = 0.0  # Deforum jumps between seeds; vj's live morph is off

    depth: dict[str, Any] = {}
    if three_d and has_3d:
        consumed.add("border")  # 3D mode pads by padding_mode instead
        _map_3d_image_keys(merged, settings, use, params, depth, unsupported, notes)
    else:
        border = str(use("border")).lower()
        if border in REGISTRY["border"].choices:
            params["border"] = border
        else:
            unsupported["border"] = border
    noise_type = str(use("noise_type")).lower()
    # Deforum's "uniform" mode blends toward randn noise, i.e. gaussian; perlin is perlin.
    params["noise_type"] = {"uniform": "gaussian", "gaussian": "gaussian", "perlin": "perlin"}.get(noise_type, "")
    if not params["noise_type"]:
        del params["noise_type"]
        unsupported["noise_type"] = noise_type
    coherence = re.sub(r"^match frame 0 ", "", str(use("color_coherence")).strip().lower())
    if coherence in ("video input", "image"):  # matched toward the video / an image, in LAB
        params["color_coherence"] = "lab"
    elif coherence in REGISTRY["color_coherence"].choices:
        params["color_coherence"] = coherence
    else:
        unsupported["color_coherence"] = merged["color_coherence"]
    input_table, input_params, render["frames"] = convert_inputs(
        merged, source, use, mode=mode, frames=render["frames"], unsupported=unsupported, notes=notes)
    cadence = _int(use("diffusion_cadence"), source, "diffusion_cadence")
    top = int(REGISTRY["cadence"].maximum)
    if cadence > top:
        unsupported["diffusion_cadence"] = cadence
        notes.append(f"diffusion_cadence {cadence} is above vj's {top}; using {top}")
    params["cadence"] = min(max(cadence, 1), top)
    origin["params.cadence"] = "diffusion_cadence"
    sampler = SAMPLERS.get(str(use("sampler")).strip().lower())
    if sampler:
        params["sampler"] = sampler
    else:
        unsupported["sampler"] = merged["sampler"]
    steps = _int(use("steps"), source, "steps")
    if "steps" not in params and "steps" not in schedules:
        if REGISTRY["steps"].minimum <= steps <= REGISTRY["steps"].maximum:
            params["steps"] = steps
        else:
            unsupported["steps"] = steps
            notes.append(f"steps {steps}: vj's few-step models run 1-4 steps; the preset's steps are kept")
    params.update(input_params)  # Video Input: video_mix 1 and cadence 1, whatever the file's cadence
    params["prompt_fade_s"] = prompt_crossfade_frames / render["fps"] if prompt_crossfade_frames > 0 else 0.0

    positive = str(use("animation_prompts_positive") or "")
    negative = str(use("animation_prompts_negative") or "")
    prompts = _prompts_of(merged, source)
    consumed.update(("prompts", "animation_prompts"))
    from vj.schedule.prompts import merge_globals

    prompt_schedule = {k: merge_globals(v, positive, negative) for k, v in prompts.items()}

    for key, value in settings.items():
        if key in consumed:
            continue
        if key in OUTPUT_ONLY:
            continue
        unsupported[key] = value
    output_only = sorted(k for k in settings if k in OUTPUT_ONLY and k not in consumed)
    if defaulted:
        notes.append("keys missing from the file take Deforum's defaults: " + ", ".join(defaulted))

    data: dict[str, Any] = {
        "preset": {"name": name or Path(source).stem, "description": f"imported from {Path(source).name}"},
        "render": render,
        "params": params,
    }
    if input_table:
        data["input"] = input_table
    if depth:
        data["depth"] = depth
    if schedules:
        data["schedules"] = schedules
    if prompt_schedule:
        data["prompt_schedule"] = prompt_schedule
        data["prompts"] = {"mix": [{"text": _first_prompt(prompt_schedule), "weight": 1.0}]}
    preset = _validated(data, source, origin)
    return ImportResult(data, preset, unsupported, output_only, notes)


def _map_3d_image_keys(merged: Mapping[str, Any], settings: Mapping[str, Any], use: Any, params: dict[str, Any],
                       depth: dict[str, Any], unsupported: dict[str, Any], notes: list[str]) -> None:
    """padding_mode, sampling_mode and the depth model keys of a 3D file."""
    padding = str(use("padding_mode")).strip().lower()
    if padding in PADDING_MODES:
        params["border"] = PADDING_MODES[padding]
    else:
        unsupported["padding_mode"] = merged["padding_mode"]
    sampling = str(use("sampling_mode")).strip().lower()
    if sampling in REGISTRY["sampling_mode"].choices:
        params["sampling_mode"] = sampling
    else:
        unsupported["sampling_mode"] = merged["sampling_mode"]
    for key in ("depth_algorithm", "use_depth_warping", "midas_weight"):
        if key in settings:
            use(key)
    algorithm = str(settings.get("depth_algorithm", "")).strip()
    if settings.get("use_depth_warping", True) is False:
        depth["model"] = NO_DEPTH
    elif algorithm.lower() in DEFORUM_DEPTH_ALGORITHMS:
        depth["model"] = algorithm
        notes.append(f"depth_algorithm {algorithm!r} runs as {DEFORUM_DEPTH_ALGORITHMS[algorithm.lower()]} "
                     "(--depth-model to choose another)")
    elif algorithm:
        unsupported["depth_algorithm"] = algorithm
    if "midas_weight" in settings:
        weight = settings["midas_weight"]
        # Only Deforum's "(old)" blends read midas_weight (MiDaS against a second estimate);
        # vj blends its one estimate against the flat plane by the same weight.
        if algorithm.lower().endswith("(old)") and isinstance(weight, (int, float)) and not isinstance(weight, bool):
            params["depth_weight"] = min(max(float(weight), 0.0), REGISTRY["depth_weight"].maximum)


def _first_prompt(prompt_schedule: Mapping[str, str]) -> str:
    from vj.schedule.prompts import split_negative

    return split_negative(next(iter(prompt_schedule.values())))[0][:1000]


def _validated(data: dict[str, Any], source: str, origin: Mapping[str, str]) -> PresetConfig:
    """parse_preset on the generated TOML; errors name the Deforum key that produced the value."""
    try:
        return parse_preset(tomli_w.dumps(data), source)
    except ExpressionError as err:
        deforum = origin.get(err.key_path)
        if deforum and deforum != err.key_path:
            raise ExpressionError(err.source, f"{deforum} ({err.key_path})", err.column, err.problem, err.hint,
                                  err.line) from None
        raise
    except ConfigError as err:
        deforum = origin.get(err.key_path)
        if deforum:
            raise ConfigError(source, f"{deforum} ({err.key_path})", err.expected, err.found) from None
        raise
