"""Full-size IP-Adapters on the `meta` device: h94/IP-Adapter's ip-adapter_sd15 (CLIP ViT-H/14 image
encoder, 1024-wide image embedding) and ip-adapter_sdxl (OpenCLIP ViT-bigG/14, 1280-wide), their weights
of the real shapes handed to diffusers' own `_load_ip_adapter_weights` (the step `load_ip_adapter` ends
with), then given vj's live scale. Nothing is allocated."""

from __future__ import annotations

from typing import Any

import torch

from tests.contract.meta_models import DTYPE, _on_meta
from vj.engine.conditioning.ip_adapter_attention import install_live_scale
from vj.engine.conditioning.ip_adapter_load import _cross_attention_widths

# (hidden, layers, heads, intermediate, projection): the image encoders of h94/IP-Adapter's models/ and sdxl_models/
VIT_H = (1280, 32, 16, 5120, 1024)
VIT_BIGG = (1664, 48, 16, 8192, 1280)


def image_encoder(shape: tuple[int, int, int, int, int]) -> Any:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    hidden, layers, heads, intermediate, projection = shape
    config = CLIPVisionConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                              intermediate_size=intermediate, projection_dim=projection, image_size=224,
                              patch_size=14, hidden_act="gelu")
    return _on_meta(lambda: CLIPVisionModelWithProjection(config))


def load_meta_ip_adapter(unet: Any, embed_dim: int) -> None:
    """The plain IP-Adapter's state dict at its real shapes (meta tensors) through diffusers' loader."""
    context = int(unet.config.cross_attention_dim)

    def empty(*shape: int) -> torch.Tensor:
        return torch.empty(shape, device="meta", dtype=DTYPE)

    image_proj = {"proj.weight": empty(4 * context, embed_dim), "proj.bias": empty(4 * context),
                  "norm.weight": empty(context), "norm.bias": empty(context)}
    ip_adapter = {}
    for i, width in enumerate(_cross_attention_widths(unet)):
        ip_adapter[f"{2 * i + 1}.to_k_ip.weight"] = empty(width, context)
        ip_adapter[f"{2 * i + 1}.to_v_ip.weight"] = empty(width, context)
    unet._load_ip_adapter_weights([{"image_proj": image_proj, "ip_adapter": ip_adapter}], low_cpu_mem_usage=True)
    install_live_scale(unet)


def sd15_unet() -> Any:
    """runwayml/stable-diffusion-v1-5's UNet (768-wide context, 8 heads)."""
    from diffusers import UNet2DConditionModel

    return _on_meta(lambda: UNet2DConditionModel(block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
                                                 attention_head_dim=8, sample_size=64))


def clip_l_text_encoder() -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    return _on_meta(lambda: CLIPTextModel(CLIPTextConfig(
        hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, hidden_act="quick_gelu",
        vocab_size=49408, max_position_embeddings=77)))
