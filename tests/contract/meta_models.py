"""sd-turbo's real architecture (and an LCM variant), built on the `meta` device in float16.

Weights are never materialised: every op checks shapes, devices and dtypes and computes
nothing. Schedulers are plain CPU objects built outside meta (they use numpy), as the
backend builds them. The tokenizer is the tiny byte-level one: its ids fit any vocabulary.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

META = torch.device("meta")
DTYPE = torch.float16
SCHEDULE = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing")


def _on_meta(build: Any) -> Any:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(DTYPE)
    try:
        with torch.device("meta"):
            return build().eval()
    finally:
        torch.set_default_dtype(previous)


def sd21_unet(*, lcm: bool = False) -> Any:
    """The SD 2.1 UNet of sd-turbo; `lcm`: with an LCM guidance embedding (time_cond_proj_dim 256)."""
    from diffusers import UNet2DConditionModel

    return _on_meta(lambda: UNet2DConditionModel(
        block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20),
        use_linear_projection=True, sample_size=64, time_cond_proj_dim=256 if lcm else None))


def openclip_h_text_encoder() -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=23,
                            hidden_act="gelu", projection_dim=1024, vocab_size=49408, max_position_embeddings=77)
    return _on_meta(lambda: CLIPTextModel(config))


def sd_vae() -> Any:
    from diffusers import AutoencoderKL

    return _on_meta(lambda: AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2, sample_size=768,
        scaling_factor=0.18215))


def taesd() -> Any:
    from diffusers import AutoencoderTiny

    return _on_meta(AutoencoderTiny)


def pipeline_parts(unet: Any, text_encoder: Any, vae: Any, *, lcm: bool) -> SimpleNamespace:
    """What the diffusers backend takes from a loaded pipeline."""
    from diffusers import EulerAncestralDiscreteScheduler, LCMScheduler

    from vj.engine.families.models.tiny import build_tiny_tokenizer

    scheduler = LCMScheduler(**SCHEDULE) if lcm else EulerAncestralDiscreteScheduler(**SCHEDULE)
    return SimpleNamespace(tokenizer=build_tiny_tokenizer(), text_encoder=text_encoder, unet=unet, vae=vae,
                           scheduler=scheduler)


def depth_anything_v2_small() -> Any:
    """Depth Anything V2 Small (depth-anything/Depth-Anything-V2-Small-hf's config.json, written out)."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4,
                            image_size=518, patch_size=14, layerscale_value=1.0,
                            out_indices=[3, 6, 9, 12],  # type: ignore[call-arg]  # V2 taps 3, 6, 9, 12; V1 the last 4
                            apply_layernorm=True, reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=384, patch_size=14,
                                 reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=[48, 96, 192, 384],
                                 fusion_hidden_size=64, head_hidden_size=32, depth_estimation_type="relative")
    return _on_meta(lambda: DepthAnythingForDepthEstimation(config))


def controlnet_of(unet: Any) -> Any:
    """A full-size ControlNet of `unet`'s family (SD 2.1's for sd-turbo's UNet; SDXL's for SDXL's), as
    the released ones are: the UNet's encoder half, the 16-32-96-256 picture embedding."""
    from diffusers import ControlNetModel

    return _on_meta(lambda: ControlNetModel.from_unet(unet))


def sdxl_pipeline() -> Any:
    """SDXL's full-size architecture (stabilityai/sdxl-turbo's and SDXL 1.0's configs) as an img2img pipeline."""
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, StableDiffusionXLImg2ImgPipeline
    from diffusers import UNet2DConditionModel as UNet
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from vj.engine.families.models.tiny import build_tiny_tokenizer

    # Schedulers use numpy on their tensors: built outside the meta device, as the engine does.
    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                timestep_spacing="trailing")
    common: dict[str, Any] = dict(vocab_size=49408, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                                  pad_token_id=1)
    torch.set_default_dtype(torch.float16)
    try:
        with torch.device("meta"):
            unet = UNet(sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
                        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                        attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10),
                        cross_attention_dim=2048, use_linear_projection=True, addition_embed_type="text_time",
                        addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816)
            vae = AutoencoderKL(block_out_channels=[128, 256, 512, 512], layers_per_block=2, latent_channels=4,
                                down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                                scaling_factor=0.13025, force_upcast=True)
            text_encoder = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                                        num_attention_heads=12, hidden_act="quick_gelu", **common))
            text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(
                hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
                hidden_act="gelu", projection_dim=1280, **common))
    finally:
        torch.set_default_dtype(torch.float32)
    return StableDiffusionXLImg2ImgPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                            tokenizer=build_tiny_tokenizer(), tokenizer_2=build_tiny_tokenizer(),
                                            unet=unet, scheduler=scheduler, requires_aesthetics_score=False)
