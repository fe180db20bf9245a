"""The preset's ControlNets: checked before the diffusion model loads, then loaded onto its backend."""

from __future__ import annotations

import re
from pathlib import Path

from vj.config import PresetConfig
from vj.depth_sources import NO_DEPTH, TINY_DEPTH, resolve_depth_source
from vj.engine.backends.base import Backend
from vj.engine.controlnet.units import ControlNets
from vj.engine.warp.depth_estimator import DepthEstimator, depth_model_folder, load_depth_model
from vj.errors import VjError

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def control_depth_source(preset: PresetConfig) -> str:
    source = resolve_depth_source(preset.depth.model, preset.model.source)
    if source == NO_DEPTH:
        raise VjError("a [[controlnet]] with conditioning = 'depth' needs a depth model, but [depth] model is "
                      "'none': name one (--depth-model), or use another conditioning")
    return source


def check_controlnets_before_load(preset: PresetConfig) -> None:
    """Sources that cannot name a ControlNet, and a depth unit's missing depth model, refused in one line."""
    for i, unit in enumerate(preset.controlnet):
        source = unit.source.strip()
        if source != "tiny" and not Path(source).expanduser().is_dir() and not _HF_ID.match(source):
            raise VjError(f"controlnet[{i}] source {unit.source!r}: expected a Hugging Face id (owner/name), a "
                          "diffusers ControlNet folder, or 'tiny' (the built-in random test ControlNet)")
    if preset.controlnet:
        from vj.engine.backends.loading import pick_device
        from vj.engine.compile.jit import resolve_compile_mode

        mode = resolve_compile_mode(preset.model.compile, pick_device(preset.model.device))
        if mode == "aot":
            raise VjError(f"[model] compile = {preset.model.compile!r} runs AOTInductor packages here, which take no "
                          "ControlNet residuals: use compile 'off' or 'jit' with a [[controlnet]]")
    if any(unit.conditioning == "depth" for unit in preset.controlnet):
        source = control_depth_source(preset)
        if source != TINY_DEPTH:
            depth_model_folder(source)


def build_controlnets(preset: PresetConfig, backend: Backend) -> ControlNets | None:
    """Load the preset's ControlNets onto `backend` (None without any)."""
    if not preset.controlnet:
        return None
    from vj.engine.backends.controlnet_load import load_controlnets
    from vj.engine.backends.diffusers import DiffusersBackend

    if not isinstance(backend, DiffusersBackend):
        raise VjError(f"ControlNet runs on the diffusers backend; {type(backend).__name__} takes no residuals")
    try:
        controls = load_controlnets(preset.controlnet, backend)
    except ValueError as err:  # the backend's own refusal (an AOT-compiled model)
        raise VjError(str(err)) from err
    if "depth" in controls.kinds:
        cfg = preset.depth
        model = load_depth_model(control_depth_source(preset), backend.device, backend.dtype)
        controls.depth = DepthEstimator(model, resolution=cfg.resolution, every_n=cfg.every_n, ema=cfg.ema)
    return controls
