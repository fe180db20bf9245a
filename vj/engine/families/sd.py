"""Stable Diffusion 1.x/2.x (sd-turbo, SD 1.5, LCM models): one CLIP text encoder, a plain UNet.

The UNet takes (sample, timestep, token embeddings) and, when LCM-distilled, a guidance
embedding; nothing about the frame size. This family is also the fallback of a folder or hub
id whose model_index.json cannot be read (diffusers then says what is missing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from vj.engine.conditioning.embeddings import Conditioning
from vj.engine.families.family import (
    IPAdapterLayout,
    TextEncoder,
    scaled_linear_schedule,
    token_embeddings,
    unet_size_rule,
)
from vj.engine.families.size_rule import SizeRule
from vj.engine.sampling import NoiseSchedule

_SD2_CONTEXT_WIDTH = 1024  # SD 2.x's OpenCLIP text width: no public IP-Adapter was trained for it
IP_ADAPTER = IPAdapterLayout("models", "ip-adapter_sd15.safetensors", "SD 1.5")


class NoisePredictor(torch.nn.Module):
    """The UNet's output for (latents, timestep, text context[, LCM guidance embedding])."""

    def __init__(self, unet: Any) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor,
                timestep_cond: torch.Tensor | None = None, down_residuals: tuple[torch.Tensor, ...] | None = None,
                mid_residual: torch.Tensor | None = None, image_embeds: torch.Tensor | None = None,
                ip_scale: torch.Tensor | None = None) -> torch.Tensor:
        """`down_residuals`, `mid_residual`: a ControlNet's, added inside the UNet (None: none);
        `image_embeds`, `ip_scale`: an IP-Adapter's reference embedding and scale (None: no IP-Adapter)."""
        added = None if image_embeds is None else {"image_embeds": ([image_embeds], ip_scale)}
        return self.unet(sample, timestep, encoder_hidden_states=context, timestep_cond=timestep_cond,
                         added_cond_kwargs=added, down_block_additional_residuals=down_residuals,
                         mid_block_additional_residual=mid_residual).sample


class StableDiffusion:
    name: str = "sd"
    label: str = "Stable Diffusion 1.x/2.x"
    described: str = "a Stable Diffusion 1.x/2.x"
    tiny_source: str = "tiny"
    pipeline_names: tuple[str, ...] = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline",
                                       "LatentConsistencyModelPipeline", "LatentConsistencyModelImg2ImgPipeline")
    # diffusers' SD pipelines never read force_upcast, and AutoencoderKL defaults it to true, so a
    # saved SD 2.x VAE config (sd-turbo's) can carry `true` for a VAE that is fine in float16.
    honours_force_upcast: bool = False
    extra_input_names: tuple[str, ...] = ()
    text_encoder_folders: tuple[str, ...] = ("text_encoder",)
    tiny_vae_id: str = "madebyollin/taesd"

    def claims_unet(self, unet_config: Mapping[str, Any]) -> bool:
        return unet_config.get("addition_embed_type") is None

    def unet_evidence(self, unet_config: Mapping[str, Any]) -> str:
        return f"no added conditioning, cross_attention_dim {unet_config.get('cross_attention_dim')}"

    def claims_checkpoint(self, tensor_names: Iterable[str]) -> bool:
        return any(name.startswith("cond_stage_model.") for name in tensor_names)

    def pipeline_class(self) -> Any:
        from diffusers import StableDiffusionPipeline

        return StableDiffusionPipeline

    def build_tiny_pipeline(self) -> Any:
        from vj.engine.families.models.tiny import build_tiny_pipeline

        return build_tiny_pipeline()

    def text_encoders(self, pipe: Any) -> list[tuple[Any, Any]]:
        return [(pipe.tokenizer, pipe.text_encoder)]

    def encode_prompt(self, encoders: Sequence[Any], token_ids: Sequence[torch.Tensor],
                      dtype: torch.dtype) -> Conditioning:
        return Conditioning(token_embeddings(encoders[0], token_ids[0], dtype))

    def noise_predictor(self, unet: Any) -> torch.nn.Module:
        return NoisePredictor(unet)

    def size_conditioning(self, height: int, width: int, device: torch.device,
                          dtype: torch.dtype) -> torch.Tensor | None:
        return None

    def extra_inputs(self, cond: Conditioning, size: torch.Tensor | None, batch: int) -> tuple[torch.Tensor, ...]:
        return ()

    def example_extra_inputs(self, text_encoders: Sequence[TextEncoder], width: int, height: int, batch: int,
                             device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        return {}

    def noise_schedule(self, model: str, scheduler_config: Mapping[str, Any]) -> NoiseSchedule:
        return scaled_linear_schedule(model, scheduler_config)

    def size_rule(self, model: str, vae_factor: int, unet_config: Mapping[str, Any]) -> SizeRule:
        return unet_size_rule(model, vae_factor, unet_config)

    def ip_adapter_layout(self, unet_config: Mapping[str, Any]) -> IPAdapterLayout | None:
        return None if unet_config.get("cross_attention_dim") == _SD2_CONTEXT_WIDTH else IP_ADAPTER


SD = StableDiffusion()
