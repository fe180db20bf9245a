"""A tiny SDXL with random weights, built from config: two text encoders, a text_time UNet.

Same shape as SDXL where the code cares: two CLIP encoders whose penultimate hidden states
are concatenated (32 + 32 = the UNet's cross-attention width of 64), the second with a
projection (the pooled embedding), and a UNet that adds the pooled embedding and six size/crop
"time ids" to its time embedding (`addition_embed_type = "text_time"`). It renders through
the same backend code as sdxl-turbo does.
"""

from __future__ import annotations

import torch

from vj.engine.families.models.tiny import TINY_SEED, TINY_VAE_BLOCK_OUT_CHANNELS, build_tiny_tokenizer

TINY_XL_TEXT_DIM = 32
TINY_XL_TIME_EMBED_DIM = 8


def build_tiny_xl_pipeline():  # noqa: ANN201 - a diffusers pipeline
    """The tiny SDXL as a diffusers `StableDiffusionXLImg2ImgPipeline`, identical on every call."""
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, StableDiffusionXLImg2ImgPipeline
    from diffusers import UNet2DConditionModel as UNet
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(TINY_SEED)
    unet = UNet(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, transformer_layers_per_block=(1, 2),
        cross_attention_dim=2 * TINY_XL_TEXT_DIM, addition_embed_type="text_time",
        addition_time_embed_dim=TINY_XL_TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=6 * TINY_XL_TIME_EMBED_DIM + TINY_XL_TEXT_DIM,
    )
    torch.manual_seed(TINY_SEED)
    vae = AutoencoderKL(
        block_out_channels=list(TINY_VAE_BLOCK_OUT_CHANNELS), in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        norm_num_groups=8, layers_per_block=1, force_upcast=True,
    )
    text = dict(hidden_size=TINY_XL_TEXT_DIM, intermediate_size=37, num_attention_heads=4, num_hidden_layers=5,
                vocab_size=1000, bos_token_id=0, eos_token_id=1, pad_token_id=1, max_position_embeddings=77)
    torch.manual_seed(TINY_SEED)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text))
    torch.manual_seed(TINY_SEED + 1)
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**text, projection_dim=TINY_XL_TEXT_DIM))
    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                timestep_spacing="trailing", steps_offset=1)
    return StableDiffusionXLImg2ImgPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=build_tiny_tokenizer(),
        tokenizer_2=build_tiny_tokenizer(), unet=unet, scheduler=scheduler, requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=False,
    )
