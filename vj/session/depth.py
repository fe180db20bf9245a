"""Which depth model a show loads (vj.engine.warp.depth_estimator), decided from the preset before the show,
and what of another preset's `[depth]` a live switch takes.

The depth model loads when the preset starts in 3D, names a depth model itself, or an
output asks for the depth map. A 2D preset that a performer switches to 3D later warps a
flat plane (said once at the start), since loading a model mid-show would stall it. For the
same reason a preset switch keeps the loaded depth model (as it keeps the diffusion model)
and takes only the settings that need no reload: resolution, every_n and ema.
"""

from __future__ import annotations

import logging

from vj.config import PresetConfig
from vj.depth_sources import NO_DEPTH, TINY_DEPTH, resolve_depth_source
from vj.engine.backends.base import Backend
from vj.engine.warp.depth_estimator import DepthEstimator, depth_model_folder, load_depth_model

log = logging.getLogger(__name__)


def preset_is_3d(preset: PresetConfig) -> bool:
    return str(preset.params.get("animation_mode", "2d")) == "3d"


def depth_source_to_load(preset: PresetConfig, wanted: bool) -> str | None:
    cfg = preset.depth
    source = resolve_depth_source(cfg.model, preset.model.source)
    if source == NO_DEPTH or not (wanted or preset_is_3d(preset) or cfg.model.strip()):
        return None
    return source


def check_depth_before_load(preset: PresetConfig, *, wanted: bool = False) -> None:
    """A depth model that will not load is refused before the diffusion model loads (a hub id not cached)."""
    source = depth_source_to_load(preset, wanted)
    if source is not None and source != TINY_DEPTH:
        depth_model_folder(source)


def build_depth(preset: PresetConfig, backend: Backend, *, wanted: bool = False) -> DepthEstimator | None:
    """The preset's depth estimator on the backend's device, or None (a flat plane)."""
    cfg = preset.depth
    source = depth_source_to_load(preset, wanted)
    if source is None:
        if resolve_depth_source(cfg.model, preset.model.source) == NO_DEPTH:
            if wanted:
                log.warning("the depth map was asked for but [depth] model is 'none': no depth is published")
        else:
            log.info("no depth model loaded (preset %r is 2D): a switch to 3D warps a flat plane; "
                     "--depth-model loads one", preset.name)
        return None
    model = load_depth_model(source, backend.device, backend.dtype)
    return DepthEstimator(model, resolution=cfg.resolution, every_n=cfg.every_n, ema=cfg.ema)


def switch_depth(loaded: DepthEstimator | None, show: PresetConfig, preset: PresetConfig,
                 control: DepthEstimator | None = None) -> str:
    """Hand `preset`'s [depth] settings to the loaded estimators (taken up at their next frame).

    `control` is a depth ControlNet's own estimator, which takes the same settings at load.

    Returns '' or, when `preset` asks for a depth model other than the loaded one, what the
    status line says (also logged once, as a warning). `show` is the playing preset: its
    diffusion model is what an empty `[depth] model` resolves against.
    """
    cfg = preset.depth
    for estimator in (e for e in (loaded, control) if e is not None):
        try:
            estimator.request_settings(resolution=cfg.resolution, every_n=cfg.every_n, ema=cfg.ema)
        except ValueError as err:
            log.warning("preset %r: [depth] settings refused for depth model %s, keeping resolution %d, every_n %d, "
                        "ema %g (%s)", preset.name, estimator.model.name, estimator.resolution, estimator.every_n,
                        estimator.ema, err)
    if not (cfg.model.strip() or preset_is_3d(preset)):
        return ""  # a 2D preset that names no depth model asks for none
    wanted = resolve_depth_source(cfg.model, show.model.source)
    have = loaded.model.name if loaded is not None else NO_DEPTH
    if wanted == have:
        return ""
    if loaded is None:
        log.warning("preset %r names depth model %s; no depth model is loaded in this show, so 3D warps a flat plane "
                    "(depth models are not loaded live: start the show with it, or with --depth-model)",
                    preset.name, wanted)
        return f"depth model not loaded: {wanted} (flat plane)"
    hint = "; depth_weight = 0 warps a flat plane" if wanted == NO_DEPTH else ""
    log.warning("preset %r names depth model %s; keeping %s (depth models are not swapped live%s)",
                preset.name, wanted, have, hint)
    return f"depth model kept: {have} (preset names {wanted})"
