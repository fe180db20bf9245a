"""SDXL (sdxl-turbo, SDXL checkpoints with an LCM-LoRA): two text encoders and a `text_time` UNet.

As diffusers' SDXL pipeline builds them: the context is both encoders' penultimate hidden
states side by side, the second encoder's projection is the pooled embedding, and the UNet
adds the pooled embedding and six size/crop "time ids" (original H, W, crop top, left, target
H, W) to its time embedding. The time ids follow the frame size and are made once per size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from vj.engine.conditioning.embeddings import Conditioning
from vj.engine.families.family import IPAdapterLayout, TextEncoder, scaled_linear_schedule, unet_size_rule
from vj.engine.families.size_rule import SizeRule
from vj.engine.sampling import NoiseSchedule

_CONTEXT_WIDTH = 2048  # SDXL's cross-attention width (768 + 1280): a UNet config with it is SDXL's
_SECOND_ENCODER = "conditioner.embedders.1."  # a single-file checkpoint's second text encoder
IP_ADAPTER = IPAdapterLayout("sdxl_models", "ip-adapter_sdxl.safetensors", "SDXL", vit_h_encoder="models/image_encoder")


class XLNoisePredictor(torch.nn.Module):
    """An SDXL UNet's output: it also takes the pooled text embedding and the size/crop time ids."""

    def __init__(self, unet: Any) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor, text_embeds: torch.Tensor,
                time_ids: torch.Tensor, timestep_cond: torch.Tensor | None = None,
                down_residuals: tuple[torch.Tensor, ...] | None = None,
                mid_residual: torch.Tensor | None = None, image_embeds: torch.Tensor | None = None,
                ip_scale: torch.Tensor | None = None) -> torch.Tensor:
        added: dict[str, object] = {"text_embeds": text_embeds, "time_ids": time_ids}
        if image_embeds is not None:  # an IP-Adapter's reference embedding and scale
            added["image_embeds"] = ([image_embeds], ip_scale)
        return self.unet(sample, timestep, encoder_hidden_states=context, timestep_cond=timestep_cond,
                         added_cond_kwargs=added, down_block_additional_residuals=down_residuals,
                         mid_block_additional_residual=mid_residual).sample


class StableDiffusionXL:
    name: str = "xl"
    label: str = "SDXL"
    described: str = "an SDXL"
    tiny_source: str = "tiny-xl"
    pipeline_names: tuple[str, ...] = ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline")
    honours_force_upcast: bool = True  # SDXL's own VAE overflows in float16; diffusers' SDXL pipelines upcast it
    extra_input_names: tuple[str, ...] = ("text_embeds", "time_ids")
    text_encoder_folders: tuple[str, ...] = ("text_encoder", "text_encoder_2")
    tiny_vae_id: str = "madebyollin/taesdxl"

    def claims_unet(self, unet_config: Mapping[str, Any]) -> bool:
        # Either mark is enough: a converted folder can carry one without the other.
        return (unet_config.get("addition_embed_type") == "text_time"
                or unet_config.get("cross_attention_dim") == _CONTEXT_WIDTH)

    def unet_evidence(self, unet_config: Mapping[str, Any]) -> str:
        return (f"addition_embed_type {unet_config.get('addition_embed_type')!r}, "
                f"cross_attention_dim {unet_config.get('cross_attention_dim')}")

    def claims_checkpoint(self, tensor_names: Iterable[str]) -> bool:
        return any(name.startswith(_SECOND_ENCODER) for name in tensor_names)

    def pipeline_class(self) -> Any:
        from diffusers import StableDiffusionXLPipeline

        return StableDiffusionXLPipeline

    def build_tiny_pipeline(self) -> Any:
        from vj.engine.families.models.tiny_xl import build_tiny_xl_pipeline

        return build_tiny_xl_pipeline()

    def text_encoders(self, pipe: Any) -> list[tuple[Any, Any]]:
        return [(pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)]

    def encode_prompt(self, encoders: Sequence[Any], token_ids: Sequence[torch.Tensor],
                      dtype: torch.dtype) -> Conditioning:
        first = encoders[0](token_ids[0], output_hidden_states=True)
        second = encoders[1](token_ids[1], output_hidden_states=True)
        context = torch.cat([first.hidden_states[-2], second.hidden_states[-2]], dim=-1)
        return Conditioning(context.to(dtype), pooled=second.text_embeds.to(dtype))

    def noise_predictor(self, unet: Any) -> torch.nn.Module:
        return XLNoisePredictor(unet)

    def size_conditioning(self, height: int, width: int, device: torch.device,
                          dtype: torch.dtype) -> torch.Tensor | None:
        row = torch.zeros(1, 6, device=device, dtype=dtype)
        for i, value in enumerate((height, width, 0, 0, height, width)):
            row[0, i] = value  # Python scalars written into a device tensor: no host→device copy
        return row

    def extra_inputs(self, cond: Conditioning, size: torch.Tensor | None, batch: int) -> tuple[torch.Tensor, ...]:
        if cond.pooled is None:
            raise ValueError("an SDXL UNet needs a pooled text embedding")
        time_ids = cond.time_ids if cond.time_ids is not None else size
        if time_ids is None:
            raise ValueError("an SDXL UNet needs the frame size's time ids")
        return cond.pooled, time_ids.expand(batch, -1)

    def example_extra_inputs(self, text_encoders: Sequence[TextEncoder], width: int, height: int, batch: int,
                             device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        pooled = int(text_encoders[1].model.config.projection_dim)
        return {"text_embeds": torch.randn(batch, pooled, device=device, dtype=dtype),
                "time_ids": torch.tensor([[height, width, 0, 0, height, width]] * batch, device=device, dtype=dtype)}

    def noise_schedule(self, model: str, scheduler_config: Mapping[str, Any]) -> NoiseSchedule:
        return scaled_linear_schedule(model, scheduler_config)

    def size_rule(self, model: str, vae_factor: int, unet_config: Mapping[str, Any]) -> SizeRule:
        return unet_size_rule(model, vae_factor, unet_config)

    def ip_adapter_layout(self, unet_config: Mapping[str, Any]) -> IPAdapterLayout | None:
        return IP_ADAPTER


SDXL = StableDiffusionXL()
