"""Which frame sizes a model can render, known from its config files before any weight loads.

A Stable Diffusion frame is downsampled by the VAE (8 for SD's VAE and TAESD) and the
latents again by 2 per UNet down block after the first, so width and height must be
multiples of vae_factor * 2 ** (len(unet.block_out_channels) - 1): 64 px for SD 1.5/2.1.
`RenderConfig` only knows the engine's limits (multiples of 8); this module refuses a size
the model cannot take before minutes of loading, or says it cannot tell yet (then the
loaded backend's `check_resolution` refuses it, with the same message).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from vj.config import ModelConfig
from vj.engine.families.models.tiny import TINY_UNET_BLOCK_OUT_CHANNELS, TINY_VAE_BLOCK_OUT_CHANNELS
from vj.engine.families.size_rule import SizeRule

log = logging.getLogger(__name__)

TINY = "tiny"
# SD's KL-f8 VAE and TAESD both downsample by 8: used when no VAE config is at hand.
SD_VAE_FACTOR = 8


def _factor(blocks: Any) -> int:
    return 2 ** (len(blocks) - 1)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        log.debug("no usable config at %s (%s)", path, err)
        return None
    return data if isinstance(data, dict) else None


def cached_config(source: str, filename: str) -> dict[str, Any] | None:
    """`filename` of a local folder, or of a hub id from the local Hugging Face cache (never the network)."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        return _read_json(folder / filename)
    if folder.suffix in (".safetensors", ".ckpt") or "/" not in source:
        return None  # a single file holds no config to read without loading it
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(source, filename)
    except ValueError as err:  # not a valid hub id: loading will say so
        log.debug("%s is not a hub id (%s)", source, err)
        return None
    return _read_json(Path(cached)) if isinstance(cached, str) else None


def _vae_factor(config: ModelConfig) -> int:
    if config.tiny_vae:
        if config.tiny_vae == TINY:
            return SD_VAE_FACTOR  # the built-in tiny VAE is a full-architecture TAESD
        taesd = cached_config(config.tiny_vae, "config.json")
        blocks = taesd.get("encoder_block_out_channels") if taesd else None
        return _factor(blocks) if blocks else SD_VAE_FACTOR
    if config.source == TINY:
        return _factor(TINY_VAE_BLOCK_OUT_CHANNELS)
    vae = cached_config(config.source, "vae/config.json")
    blocks = vae.get("block_out_channels") if vae else None
    return _factor(blocks) if blocks else SD_VAE_FACTOR


def size_rule(config: ModelConfig) -> SizeRule | None:
    """The model's size rule from its config files alone, or None when they are not on this machine."""
    if config.source == TINY:
        unet_blocks: Any = TINY_UNET_BLOCK_OUT_CHANNELS
    else:
        unet = cached_config(config.source, "unet/config.json")
        unet_blocks = unet.get("block_out_channels") if unet else None
        if not unet_blocks:
            return None
    return SizeRule(config.source, _vae_factor(config), _factor(unet_blocks))


def check_size_before_load(config: ModelConfig, width: int, height: int) -> SizeRule | None:
    """Refuse (SizeRefused) a size the model cannot render; None when only loading it will tell."""
    rule = size_rule(config)
    if rule is None:
        log.info("the frame sizes %s can render are checked once it is loaded (no config of it on this "
                 "machine yet)", config.source)
        return None
    rule.check(width, height)
    return rule
