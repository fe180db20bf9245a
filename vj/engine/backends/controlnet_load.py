"""ControlNet sources → units on the backend's device and dtype, checked against its UNet.

Sources: a Hugging Face id (cache first), a local diffusers folder, or `tiny`: a random
ControlNet built from the loaded UNet (`ControlNetModel.from_unet`), its zero-initialised
output convolutions filled with seeded random weights so its residuals are not zero.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch

from vj.choices import ControlKind
from vj.config import ControlNetConfig
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.backends.loading import _from_pretrained
from vj.engine.compile.jit import JitCompiled
from vj.engine.controlnet.units import ControlNetResiduals, ControlNets, ControlUnit
from vj.engine.families.lookup import family_of_unet
from vj.errors import BackendUnavailable

log = logging.getLogger(__name__)

TINY_CONTROLNET = "tiny"
TINY_CONTROLNET_SEED = 1234


def build_tiny_controlnet(unet: Any, vae_scale_factor: int) -> Any:
    """A random ControlNet shaped like `unet`, identical on every call (seeded)."""
    from diffusers import ControlNetModel

    steps = max(vae_scale_factor.bit_length() - 1, 0)  # the picture embedding downsamples to latent size
    channels = tuple(16 * 2 ** i for i in range(steps + 1))
    # The picture embedding's layers are drawn at construction from the global generator: seed a fork of it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_CONTROLNET_SEED)
        controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=channels)
    generator = torch.Generator().manual_seed(TINY_CONTROLNET_SEED)
    zeroed = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
              controlnet.controlnet_cond_embedding.conv_out]
    with torch.no_grad():
        for conv in zeroed:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.05)
    return controlnet


def _check_family(source: str, controlnet_config: Any, unet_config: Any) -> None:
    ours, theirs = unet_config.get("cross_attention_dim"), controlnet_config.get("cross_attention_dim")
    model_family, control_family = family_of_unet(unet_config), family_of_unet(controlnet_config)
    if ours != theirs or model_family is not control_family:
        raise BackendUnavailable(
            f"ControlNet {source!r} is for {control_family.label} (cross_attention_dim {theirs}); the loaded model "
            f"is {model_family.label} with cross_attention_dim {ours}: use a ControlNet of the model's family.")


def load_controlnet_model(cfg: ControlNetConfig, backend: DiffusersBackend) -> Any:
    """The unit's diffusers ControlNetModel, as its source names it (not yet on the backend's device)."""
    if cfg.source == TINY_CONTROLNET:
        return build_tiny_controlnet(backend.unet, backend.vae_scale_factor)
    from diffusers import ControlNetModel

    return _from_pretrained(ControlNetModel, cfg.source, backend.dtype, "ControlNet")


ModelLoader = Callable[[ControlNetConfig, DiffusersBackend], Any]


def load_controlnets(configs: Sequence[ControlNetConfig], backend: DiffusersBackend,
                     load_model: ModelLoader = load_controlnet_model) -> ControlNets:
    """Load every unit and attach them to `backend` (its predict_noise adds their residuals).

    `load_model`: where each unit's model comes from; the device contract passes full-size
    models built on `meta`, which no file can hold, and keeps everything after it."""
    units = []
    for cfg in configs:
        model = load_model(cfg, backend)
        _check_family(cfg.source, model.config, backend.unet.config)
        if model.dtype != backend.dtype:
            model = model.to(dtype=backend.dtype)
        model = model.to(device=backend.device).eval()
        call: Any = ControlNetResiduals(model, backend.family.extra_input_names)
        if backend.compile_mode == "jit":
            call = JitCompiled(call, backend.device)
        units.append(ControlUnit(ControlKind(cfg.conditioning), cfg.scale, call))
        log.info("ControlNet %s (%s, scale %g) loaded", cfg.source, cfg.conditioning, cfg.scale)
    controls = ControlNets(units, backend.device)
    backend.attach_controlnets(controls)
    return controls
