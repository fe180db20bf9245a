"""An IP-Adapter whose scale is a device tensor the UNet call takes, so a live change never recompiles.

diffusers' IP-Adapter attention processors keep their scale as a Python float on each processor
(`set_ip_adapter_scale`). Under `torch.compile` a float attribute is a constant of the graph:
every new value is a recompile, and a glide of the scale would be a recompile per frame. Here the
scale travels with the image embeddings instead: the UNet's `added_cond_kwargs["image_embeds"]` is
the pair (embeddings, scale), the projection passes the scale on beside the image tokens, and each
cross-attention adds `scale * attention(image tokens)` reading it as a tensor. Changing the scale is
then a `fill_` on the device (no host→device copy) and the graph is the same.

The weights are diffusers' own (the projection and the `to_k_ip`/`to_v_ip` layers its loader
made): only the two call paths are replaced.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from vj.engine.conditioning.attention_frame import attention_input, attention_output

# What the UNet's `added_cond_kwargs["image_embeds"]` carries here: one embedding tensor per adapter
# ([batch, images, dim] or, for an IP-Adapter Plus, [batch, images, tokens, dim]) and the scale (0-dim).
ImageInput = tuple[list[torch.Tensor], torch.Tensor]


class ScaledImageProjection(torch.nn.Module):
    """diffusers' multi-adapter image projection, handing the scale on beside the image tokens."""

    def __init__(self, projection: torch.nn.Module) -> None:
        super().__init__()
        self.projection = projection

    @property
    def num_ip_adapters(self) -> int:
        return len(self.projection.image_projection_layers)  # type: ignore[arg-type]

    @property
    def image_projection_layers(self) -> Any:  # read by diffusers' pipelines and our encoder
        return self.projection.image_projection_layers

    def forward(self, image_input: ImageInput) -> ImageInput:
        embeds, scale = image_input
        return self.projection(embeds), scale


def _heads(x: torch.Tensor, batch: int, heads: int, head_dim: int) -> torch.Tensor:
    return x.view(batch, -1, heads, head_dim).transpose(1, 2)


class LiveScaleIPAdapterProcessor(torch.nn.Module):
    """Cross-attention to the text plus `scale` times attention to each adapter's image tokens.

    Takes over the `to_k_ip`/`to_v_ip` layers of the diffusers processor it replaces; reads the
    scale from `encoder_hidden_states` = (text, (image tokens per adapter, scale)).
    """

    def __init__(self, replaced: Any) -> None:
        super().__init__()
        self.to_k_ip = replaced.to_k_ip
        self.to_v_ip = replaced.to_v_ip
        self.hidden_size = replaced.hidden_size
        self.cross_attention_dim = replaced.cross_attention_dim
        self.num_tokens = replaced.num_tokens

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: Any = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None,
                 **_: Any) -> torch.Tensor:
        if not isinstance(encoder_hidden_states, tuple):
            raise ValueError("an IP-Adapter cross-attention needs (text, (image tokens, scale)): the UNet was "
                             "called without image embeddings")
        text, (image_tokens, scale) = encoder_hidden_states
        hidden_states, residual, shape = attention_input(attn, hidden_states, temb)
        batch = hidden_states.shape[0]
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, text.shape[1], batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        query = attn.to_q(hidden_states)
        if attn.norm_cross:
            text = attn.norm_encoder_hidden_states(text)
        key, value = attn.to_k(text), attn.to_v(text)
        head_dim = key.shape[-1] // attn.heads
        query = _heads(query, batch, attn.heads, head_dim)
        out = F.scaled_dot_product_attention(query, _heads(key, batch, attn.heads, head_dim),
                                             _heads(value, batch, attn.heads, head_dim), attn_mask=attention_mask)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        for tokens, to_k, to_v in zip(image_tokens, self.to_k_ip, self.to_v_ip, strict=True):
            tokens = tokens.reshape(batch, -1, tokens.shape[-1])  # every image's tokens side by side
            image = F.scaled_dot_product_attention(query, _heads(to_k(tokens), batch, attn.heads, head_dim),
                                                   _heads(to_v(tokens), batch, attn.heads, head_dim))
            image = image.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
            out = out + scale.to(out.dtype) * image
        return attention_output(attn, out, residual, shape)


def install_live_scale(unet: Any) -> int:
    """Replace diffusers' IP-Adapter processors and projection in `unet` (after `load_ip_adapter`);
    returns how many processors were replaced."""
    from diffusers.models.attention_processor import IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0

    processors = dict(unet.attn_processors)
    replaced = 0
    for name, processor in processors.items():
        if isinstance(processor, (IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0)):
            processors[name] = LiveScaleIPAdapterProcessor(processor)
            replaced += 1
    if not replaced or unet.encoder_hid_proj is None:
        raise ValueError("the UNet has no IP-Adapter loaded (load_ip_adapter first)")
    unet.set_attn_processor(processors)
    if not isinstance(unet.encoder_hid_proj, ScaledImageProjection):
        unet.encoder_hid_proj = ScaledImageProjection(unet.encoder_hid_proj)
    return replaced
