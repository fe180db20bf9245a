"""sd-turbo's architecture with random weights, built from config on the target device.

Speed and memory do not depend on the weights, so a GPU benchmark or test can run the
full-size SD 2.1 UNet, OpenCLIP-H text encoder, SD VAE and TAESD without downloading
anything: the modules are created directly on the device in the run's dtype (no CPU copy,
no cast). `SMOKE` keeps every block type and the wiring at a fraction of the width, so the
same code runs on a CPU in seconds. The helpers below the architectures are shared with
random_sdxl (the same VAE, TAESD, CLIP text tower and FLOP count at other widths).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from vj.engine.families.models.tiny import build_tiny_tokenizer

RANDOM_SEED = 0
TOKENS = 77
# The turbo models' noise schedule (sd-turbo's and sdxl-turbo's scheduler_config.json).
TURBO_SCHEDULE: dict[str, Any] = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                      num_train_timesteps=1000, prediction_type="epsilon", steps_offset=1,
                                      timestep_spacing="trailing")


@dataclass(frozen=True, slots=True)
class Architecture:
    """The widths that set a Stable Diffusion pipeline's cost; block types stay SD 2.1's."""

    name: str
    unet_channels: tuple[int, ...]
    unet_head_dims: tuple[int, ...]
    text_width: int
    text_layers: int
    text_heads: int
    vae_channels: tuple[int, ...]
    vae_layers: int
    vae_groups: int
    taesd_channels: tuple[int, ...]


# stabilityai/sd-turbo's config files: SD 2.1's UNet (866 M parameters), OpenCLIP ViT-H/14's
# text tower (23 layers used, 1024 wide), the SD VAE, and madebyollin/taesd (AutoencoderTiny's defaults).
SD_TURBO = Architecture("sd-turbo", unet_channels=(320, 640, 1280, 1280), unet_head_dims=(5, 10, 20, 20),
                        text_width=1024, text_layers=23, text_heads=16, vae_channels=(128, 256, 512, 512),
                        vae_layers=2, vae_groups=32, taesd_channels=(64, 64, 64, 64))
# The same blocks at about a hundredth of the cost: what a 2-core CPU renders at 64 px in well under a second.
SMOKE = Architecture("sd-turbo-smoke", unet_channels=(32, 64, 64, 64), unet_head_dims=(2, 4, 4, 4),
                     text_width=64, text_layers=2, text_heads=4, vae_channels=(16, 32, 32, 32),
                     vae_layers=1, vae_groups=8, taesd_channels=(16, 16, 16, 16))
ARCHITECTURES = {a.name: a for a in (SD_TURBO, SMOKE)}


def _unet(arch: Architecture) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, block_out_channels=arch.unet_channels,
        attention_head_dim=arch.unet_head_dims, cross_attention_dim=arch.text_width, use_linear_projection=True,
        norm_num_groups=min(32, arch.unet_channels[0]), layers_per_block=2,
    )


def build_random_components(arch: Architecture, device: torch.device | str,
                            dtype: torch.dtype) -> dict[str, Any]:
    """The pipeline components of `arch` with seeded random weights, created on `device` in `dtype`.

    Returns unet, vae, text_encoder, tokenizer, scheduler and `taesd` (not a pipeline component).
    """
    from diffusers import EulerDiscreteScheduler
    from transformers import CLIPTextModel

    modules = build_modules({
        "unet": lambda: _unet(arch),
        "vae": lambda: kl_vae(arch.vae_channels, arch.vae_layers, arch.vae_groups, scaling_factor=0.18215,
                              force_upcast=True, sample_size=512),  # AutoencoderKL's default, as sd-turbo's
        "text_encoder": lambda: CLIPTextModel(clip_text_config(arch.text_width, arch.text_layers, arch.text_heads,
                                                               act="gelu", projection_dim=512)),
        "taesd": lambda: tiny_autoencoder(arch.taesd_channels),
    }, device, dtype)
    # sd-turbo's scheduler_config.json: Euler (not ancestral), trailing spacing.
    return {**modules, "tokenizer": build_tiny_tokenizer(), "scheduler": EulerDiscreteScheduler(**TURBO_SCHEDULE)}


def build_random_pipeline(components: dict[str, Any]) -> Any:
    """A diffusers `StableDiffusionPipeline` of the components (TAESD left out, as sd-turbo ships)."""
    from diffusers import StableDiffusionPipeline

    parts = {k: v for k, v in components.items() if k != "taesd"}
    return StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def count_gflop(arch: Architecture, size: int) -> dict[str, float]:
    """Matrix and convolution GFLOP of one UNet call and one TAESD encode + decode at `size`² (batch 1).

    Counted by `torch.utils.flop_counter` on the `meta` device: nothing is allocated or computed,
    so the full-size count takes seconds on any machine.
    """
    comps = build_random_components(arch, "meta", torch.float16)
    x = torch.empty(1, 4, size // 8, size // 8, device="meta", dtype=torch.float16)
    ctx = torch.empty(1, TOKENS, arch.text_width, device="meta", dtype=torch.float16)
    return count_calls({
        "unet": lambda: comps["unet"](x, torch.tensor(999, device="meta"), encoder_hidden_states=ctx),
        **autoencoder_calls(comps, size),
    })


# ---------------------------------------------------------------------------------------------- shared
def build_modules(builders: Mapping[str, Callable[[], Any]], device: torch.device | str,
                  dtype: torch.dtype) -> dict[str, Any]:
    """Each builder's module, seeded, created on `device` in `dtype`, in eval mode without gradients."""
    torch.manual_seed(RANDOM_SEED)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            modules = {name: build() for name, build in builders.items()}
    finally:
        torch.set_default_dtype(previous)
    for module in modules.values():
        module.eval().requires_grad_(False)
    return modules


def kl_vae(channels: tuple[int, ...], layers: int, groups: int, *, scaling_factor: float, force_upcast: bool,
           sample_size: int) -> Any:
    """The SD / SDXL VAE's layout (one encoder and decoder block per width) at these widths."""
    from diffusers import AutoencoderKL

    blocks = len(channels)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=channels,
                         down_block_types=("DownEncoderBlock2D",) * blocks,
                         up_block_types=("UpDecoderBlock2D",) * blocks, layers_per_block=layers,
                         norm_num_groups=groups, sample_size=sample_size, scaling_factor=scaling_factor,
                         force_upcast=force_upcast)


def tiny_autoencoder(channels: tuple[int, ...]) -> Any:
    """TAESD / TAESDXL (same layout, other weights): AutoencoderTiny at these widths."""
    from diffusers import AutoencoderTiny

    return AutoencoderTiny(encoder_block_out_channels=channels, decoder_block_out_channels=channels)


def clip_text_config(width: int, layers: int, heads: int, *, act: str, projection_dim: int) -> Any:
    """A CLIP text tower's config; bos/eos as the byte tokenizer numbers them, so pooling finds the end."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(hidden_size=width, intermediate_size=4 * width, num_attention_heads=heads,
                          num_hidden_layers=layers, projection_dim=projection_dim, hidden_act=act, vocab_size=49408,
                          max_position_embeddings=TOKENS, bos_token_id=0, eos_token_id=1, pad_token_id=1)


def autoencoder_calls(comps: Mapping[str, Any], size: int) -> dict[str, Callable[[], object]]:
    """TAESD's and the VAE's encode and decode of one `size`² image on `meta` (for `count_calls`)."""
    image = torch.empty(1, 3, size, size, device="meta", dtype=torch.float16)
    latent = torch.empty(1, 4, size // 8, size // 8, device="meta", dtype=torch.float16)
    return {"taesd_encode": lambda: comps["taesd"].encode(image), "taesd_decode": lambda: comps["taesd"].decode(latent),
            "vae_encode": lambda: comps["vae"].encode(image), "vae_decode": lambda: comps["vae"].decode(latent)}


def count_calls(calls: Mapping[str, Callable[[], object]]) -> dict[str, float]:
    """GFLOP of each call as `torch.utils.flop_counter` counts it (matrix products and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    counts: dict[str, float] = {}
    with torch.inference_mode():
        for name, call in calls.items():
            counter = FlopCounterMode(display=False)
            with counter:
                call()
            counts[name] = counter.get_total_flops() / 1e9
    return counts
