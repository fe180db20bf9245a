"""What every attention processor of vj does around its own attention: diffusers' `Attention` conventions.

A processor replaces diffusers' attention for one layer (the feature bank's self-attention, the
IP-Adapter's cross-attention). Before the attention: the spatial norm, a 4-D feature map flattened to
tokens, the group norm; after it: the output projection and dropout, the map's shape back, the
residual and the output rescale. Both halves follow diffusers' `AttnProcessor2_0` step for step, so
a processor that adds nothing renders as diffusers' own.
"""

from __future__ import annotations

from typing import Any

import torch


def attention_input(attn: Any, hidden_states: torch.Tensor, temb: torch.Tensor | None
                    ) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int, int] | None]:
    """(tokens [B, N, C], the residual, the 4-D map's shape or None) for `attn`'s input."""
    residual = hidden_states
    if attn.spatial_norm is not None:
        hidden_states = attn.spatial_norm(hidden_states, temb)
    shape: tuple[int, int, int, int] | None = None
    if hidden_states.ndim == 4:
        batch, channel, height, width = hidden_states.shape
        shape = (int(batch), int(channel), int(height), int(width))
        hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
    if attn.group_norm is not None:
        hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
    return hidden_states, residual, shape


def attention_output(attn: Any, out: torch.Tensor, residual: torch.Tensor,
                     shape: tuple[int, int, int, int] | None) -> torch.Tensor:
    """The attention's tokens [B, N, C] through `attn`'s output projection, back to the input's shape."""
    out = attn.to_out[1](attn.to_out[0](out))
    if shape is not None:
        out = out.transpose(-1, -2).reshape(shape)
    if attn.residual_connection:
        out = out + residual
    return out / attn.rescale_output_factor
