"""sdxl-turbo's architecture with random weights, built from config on the target device.

As random_sd does for sd-turbo: the full-size SDXL UNet (2.6 B parameters, text_time added
embedding), CLIP ViT-L and OpenCLIP bigG text encoders (the second with the pooled
projection), the SDXL VAE and TAESDXL, created directly on the device in the run's dtype.
`SDXL_SMOKE` keeps every block type and the wiring (two encoders side by side, pooled text and
six time ids in the UNet's added embedding) at a fraction of the width, for a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vj.engine.families.models.random_sd import (
    TOKENS,
    TURBO_SCHEDULE,
    autoencoder_calls,
    build_modules,
    clip_text_config,
    count_calls,
    kl_vae,
    tiny_autoencoder,
)
from vj.engine.families.models.tiny import build_tiny_tokenizer

# SDXL's micro-conditioning: original size, crop corner, target size (two numbers each).
TIME_IDS = 6
_DOWN_BLOCKS = ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D")
_UP_BLOCKS = ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")


@dataclass(frozen=True, slots=True)
class XLArchitecture:
    """The widths that set an SDXL pipeline's cost; block types stay SDXL's."""

    name: str
    unet_channels: tuple[int, int, int]
    unet_head_dims: tuple[int, int, int]
    transformer_layers: tuple[int, int, int]
    time_embed_dim: int  # per time id (addition_time_embed_dim)
    text_width: int  # CLIP ViT-L's tower
    text_layers: int
    text_heads: int
    text_2_width: int  # OpenCLIP bigG's tower; its projection is as wide (the pooled embedding)
    text_2_layers: int
    text_2_heads: int
    vae_channels: tuple[int, ...]
    vae_layers: int
    vae_groups: int
    taesd_channels: tuple[int, ...]

    @property
    def context_width(self) -> int:
        """The UNet's cross-attention width: both encoders' hidden states side by side."""
        return self.text_width + self.text_2_width

    @property
    def added_embed_input(self) -> int:
        """projection_class_embeddings_input_dim: the embedded time ids and the pooled text."""
        return TIME_IDS * self.time_embed_dim + self.text_2_width


# stabilityai/sdxl-turbo's config files: SDXL's UNet (2.567 B parameters), CLIP ViT-L/14 (123 M)
# and OpenCLIP ViT-bigG/14 with projection (695 M), the SDXL VAE, and madebyollin/taesdxl.
SDXL_TURBO = XLArchitecture(
    "sdxl-turbo", unet_channels=(320, 640, 1280), unet_head_dims=(5, 10, 20), transformer_layers=(1, 2, 10),
    time_embed_dim=256, text_width=768, text_layers=12, text_heads=12, text_2_width=1280, text_2_layers=32,
    text_2_heads=20, vae_channels=(128, 256, 512, 512), vae_layers=2, vae_groups=32, taesd_channels=(64, 64, 64, 64))
# The same blocks and wiring narrow: a 64² frame on a 2-core CPU in about a second.
SDXL_SMOKE = XLArchitecture(
    "sdxl-turbo-smoke", unet_channels=(32, 64, 64), unet_head_dims=(2, 4, 4), transformer_layers=(1, 2, 2),
    time_embed_dim=8, text_width=32, text_layers=2, text_heads=4, text_2_width=64, text_2_layers=2, text_2_heads=4,
    vae_channels=(16, 32, 32, 32), vae_layers=1, vae_groups=8, taesd_channels=(16, 16, 16, 16))


def _unet(arch: XLArchitecture) -> Any:
    from diffusers import UNet2DConditionModel

    # sample_size only sets the pipelines' default output size (64 latents: 512², sdxl-turbo's training size).
    return UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, block_out_channels=arch.unet_channels, layers_per_block=2,
        down_block_types=_DOWN_BLOCKS, up_block_types=_UP_BLOCKS, attention_head_dim=arch.unet_head_dims,
        transformer_layers_per_block=arch.transformer_layers, cross_attention_dim=arch.context_width,
        use_linear_projection=True, norm_num_groups=min(32, arch.unet_channels[0]),
        addition_embed_type="text_time", addition_time_embed_dim=arch.time_embed_dim,
        projection_class_embeddings_input_dim=arch.added_embed_input,
    )


def build_random_xl_components(arch: XLArchitecture, device: torch.device | str,
                               dtype: torch.dtype) -> dict[str, Any]:
    """The pipeline components of `arch` with seeded random weights, created on `device` in `dtype`.

    Returns unet, vae, text_encoder, text_encoder_2, tokenizer, tokenizer_2, scheduler and `taesd`
    (TAESDXL; not a pipeline component).
    """
    from diffusers import EulerAncestralDiscreteScheduler
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    modules = build_modules({
        "unet": lambda: _unet(arch),
        # The SDXL VAE overflows in fp16: its config asks for float32 (force_upcast), as the backend honours.
        "vae": lambda: kl_vae(arch.vae_channels, arch.vae_layers, arch.vae_groups, scaling_factor=0.13025,
                              force_upcast=True, sample_size=1024),
        "text_encoder": lambda: CLIPTextModel(clip_text_config(
            arch.text_width, arch.text_layers, arch.text_heads, act="quick_gelu", projection_dim=arch.text_width)),
        "text_encoder_2": lambda: CLIPTextModelWithProjection(clip_text_config(
            arch.text_2_width, arch.text_2_layers, arch.text_2_heads, act="gelu", projection_dim=arch.text_2_width)),
        "taesd": lambda: tiny_autoencoder(arch.taesd_channels),
    }, device, dtype)
    # sdxl-turbo's scheduler_config.json: Euler ancestral, trailing spacing.
    return {**modules, "tokenizer": build_tiny_tokenizer(), "tokenizer_2": build_tiny_tokenizer(),
            "scheduler": EulerAncestralDiscreteScheduler(**TURBO_SCHEDULE)}


def build_random_xl_pipeline(components: dict[str, Any]) -> Any:
    """A diffusers `StableDiffusionXLPipeline` of the components (TAESDXL left out, as sdxl-turbo ships)."""
    from diffusers import StableDiffusionXLPipeline

    parts = {k: v for k, v in components.items() if k != "taesd"}
    return StableDiffusionXLPipeline(**parts, force_zeros_for_empty_prompt=False)


def count_xl_gflop(arch: XLArchitecture, size: int) -> dict[str, float]:
    """As random_sd.count_gflop: one UNet call (pooled text and time ids added) and the autoencoders."""
    comps = build_random_xl_components(arch, "meta", torch.float16)
    x = torch.empty(1, 4, size // 8, size // 8, device="meta", dtype=torch.float16)
    ctx = torch.empty(1, TOKENS, arch.context_width, device="meta", dtype=torch.float16)
    added = {"text_embeds": torch.empty(1, arch.text_2_width, device="meta", dtype=torch.float16),
             "time_ids": torch.empty(1, TIME_IDS, device="meta", dtype=torch.float16)}
    return count_calls({
        "unet": lambda: comps["unet"](x, torch.tensor(999, device="meta"), encoder_hidden_states=ctx,
                                      added_cond_kwargs=added),
        **autoencoder_calls(comps, size),
    })
