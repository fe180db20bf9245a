"""The feature bank: self-attention that also reads the keys and values of the last frames (StreamV2V's idea).

Each self-attention layer of the UNet (every transformer block's `attn1`) gets a `BankAttnProcessor`.
Per call it computes the layer's ordinary attention, and an attention of the same queries over the
keys and values the layer cached on the last `bank_frames` frames; the output is

    plain + bank_strength · (bank - plain)

so a texture that boils from frame to frame is pulled toward what the same place looked like
before. At strength 0 that is `plain + 0`: exactly the picture without the bank. Then the layer
writes this call's keys and values into the ring.

Everything the processors read lives on the device and keeps its shape: the ring of each layer is
allocated for `MAX_BANK_FRAMES` past frames plus the one being written (bounded memory, no shape
change as it fills, so a compiled UNet is not compiled again), and the strength, the slot to write
and which slots count are small device tensors the engine updates in place between frames
(`FeatureBank.begin_frame`: fills and in-place arithmetic, no host→device copy, no host read).
Slots outside the last `bank_frames` frames, or never written, are masked out of the attention;
while none counts the bank output is the plain one.

The ring keeps the keys and values of the last batch entry only (the text-conditioned one under
full CFG); every batch entry reads them. It is written by every UNet call of a frame, so the last
step's features are the ones kept (under `cfg = "rcfg-initialize"` with one step that is the
negative prompt's call). The processors replace only the self-attention layers: a processor for
cross-attention (an IP-Adapter's) is left as it is and composes with them.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F

from vj.engine.conditioning.attention_frame import attention_input, attention_output
from vj.registry import MAX_BANK_FRAMES

log = logging.getLogger(__name__)

SLOTS = MAX_BANK_FRAMES + 1  # the past frames a frame may read, and the slot the frame itself writes
_NEVER = SLOTS + 1  # the age of a slot never written: outside any bank_frames


class BankControls:
    """What every processor reads besides its own ring: device tensors, updated in place between frames.

    A plain object, not a module: its tensors are graph inputs of a compiled UNet, never weights a
    compiler may fold into constants.
    """

    def __init__(self, device: torch.device) -> None:
        self.strength = torch.zeros((), device=device)
        self.write_slot = torch.zeros(1, dtype=torch.long, device=device)
        self.age = torch.full((SLOTS,), _NEVER, dtype=torch.long, device=device)  # frames since each slot was written
        self.bias = torch.full((SLOTS,), float("-inf"), device=device)  # added to the attention logits of a slot
        self.any_valid = torch.zeros((), dtype=torch.bool, device=device)
        self.bank: FeatureBank | None = None  # the bank these control: how a second install finds it in the UNet


class BankAttnProcessor(torch.nn.Module):
    """diffusers' attention processor interface for a self-attention layer, with the layer's ring."""

    keys: torch.Tensor
    values: torch.Tensor

    def __init__(self, controls: BankControls, channels: int, device: torch.device, dtype: torch.dtype) -> None:
        super().__init__()
        self.controls = controls
        self.channels = channels
        # [SLOTS, 1, tokens, channels]; 0 tokens until `resize`: the layer then runs as without a bank
        self.register_buffer("keys", torch.zeros(SLOTS, 1, 0, channels, device=device, dtype=dtype), persistent=False)
        self.register_buffer("values", torch.zeros(SLOTS, 1, 0, channels, device=device, dtype=dtype),
                             persistent=False)

    def resize(self, tokens: int) -> None:
        """A ring for `tokens` tokens (a new render size): allocated once per size, empty."""
        if int(self.keys.shape[2]) != tokens:
            shape = (SLOTS, 1, tokens, self.channels)
            self.keys = torch.zeros(shape, device=self.keys.device, dtype=self.keys.dtype)
            self.values = torch.zeros(shape, device=self.values.device, dtype=self.values.dtype)

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None,
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        hidden_states, residual, shape = attention_input(attn, hidden_states, temb)
        batch, tokens, _ = hidden_states.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, tokens, batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        if getattr(attn, "fused_projections", False):  # [model] fuse_qkv
            query, key, value = attn.to_qkv(hidden_states).chunk(3, dim=-1)
        else:
            query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        heads = attn.heads
        head_dim = key.shape[-1] // heads

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(x.shape[0], -1, heads, head_dim).transpose(1, 2)

        q, k, v = split(query), split(key), split(value)
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask, dropout_p=0.0, is_causal=False)
        if int(self.keys.shape[2]) == tokens:  # the ring is for this size (a warm-up variant may not be)
            out = self._with_bank(q, out, key, value, batch, tokens)
        hidden_states = out.transpose(1, 2).reshape(batch, -1, heads * head_dim).to(q.dtype)
        return attention_output(attn, hidden_states, residual, shape)

    def _with_bank(self, q: torch.Tensor, plain: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                   batch: int, tokens: int) -> torch.Tensor:
        c = self.controls
        heads, head_dim = q.shape[1], q.shape[3]
        stored = SLOTS * tokens

        def split(ring: torch.Tensor) -> torch.Tensor:
            flat = ring.to(q.dtype).reshape(1, stored, heads, head_dim).transpose(1, 2)
            return flat.expand(batch, -1, -1, -1)

        mask = c.bias.to(q.dtype).repeat_interleave(tokens).view(1, 1, 1, stored)
        bank = F.scaled_dot_product_attention(q, split(self.keys), split(self.values), attn_mask=mask)
        bank = torch.where(c.any_valid, bank, plain)  # no slot counts: all logits -inf, the bank is NaN
        out = torch.lerp(plain, bank, c.strength.to(plain.dtype))
        # This call's features replace the slot being written (its age 0 keeps it out of this frame's reads).
        self.keys.index_copy_(0, c.write_slot, key[-1:].detach().unsqueeze(0).to(self.keys.dtype))
        self.values.index_copy_(0, c.write_slot, value[-1:].detach().unsqueeze(0).to(self.values.dtype))
        return out


def _self_attention_levels(unet: Any) -> list[tuple[Any, int]]:
    """Every transformer block's self-attention module of a diffusers UNet2DConditionModel, with the
    number of times its input was halved (its resolution level)."""
    deepest = len(unet.down_blocks) - 1
    blocks: list[tuple[Any, int]] = [(b, i) for i, b in enumerate(unet.down_blocks)]
    if unet.mid_block is not None:
        blocks.append((unet.mid_block, deepest))
    blocks += [(b, len(unet.up_blocks) - 1 - i) for i, b in enumerate(unet.up_blocks)]
    found = []
    for block, level in blocks:
        for transformer in getattr(block, "attentions", None) or ():
            for inner in getattr(transformer, "transformer_blocks", ()):
                found.append((inner.attn1, level))
    return found


def ring_bytes(unet: Any, latent_h: int, latent_w: int, element_size: int) -> int:
    """The device memory the bank's rings take in `unet` at this latent size (keys and values, every slot):
    what `FeatureBank.bytes_held` will hold, known from the architecture alone (the memory estimate)."""
    return sum(2 * SLOTS * _tokens(latent_h, latent_w, level) * int(attn.to_out[0].in_features) * element_size
               for attn, level in _self_attention_levels(unet))


def _tokens(latent_h: int, latent_w: int, level: int) -> int:
    for _ in range(level):  # a stride-2 convolution with padding 1: ceil(n / 2)
        latent_h, latent_w = (latent_h + 1) // 2, (latent_w + 1) // 2
    return latent_h * latent_w


class FeatureBank:
    """The bank processors installed in a UNet, and the engine's per-frame control of them."""

    @classmethod
    def install(cls, backend: Any) -> FeatureBank:
        """The bank in `backend`'s UNet (a diffusers backend, eager or jit), sized by its warm-up variants.

        One bank per UNet: where its processors are in place already (a second engine on the same backend:
        a replay, a switch back to a model handed in), that bank is the one returned, with its rings and its
        one warm-up hook; a new bank would add a hook and a bank object on every install."""
        unet = getattr(backend, "unet", None)
        if unet is None or getattr(backend, "compile_mode", "off") == "aot":
            raise ValueError(f"{backend.name}: the feature bank needs the diffusers backend with compile off or "
                             "jit (an AOT package or a TensorRT engine has no attention processors to replace)")
        present = cls.installed_in(unet)
        if present is not None:
            return present
        hooks = backend.warmup_size_hooks  # a bank whose processors were replaced since is sized no more
        hooks[:] = [hook for hook in hooks if not isinstance(getattr(hook, "__self__", None), FeatureBank)]
        bank = cls(unet, backend.device, backend.dtype)
        hooks.append(bank.resize)
        return bank

    @staticmethod
    def installed_in(unet: Any) -> FeatureBank | None:
        """The bank whose processors are in every self-attention layer of `unet`; None where there is none."""
        layers = _self_attention_levels(unet)
        first = layers[0][0].processor if layers else None
        if not isinstance(first, BankAttnProcessor) or first.controls.bank is None:
            return None
        bank = first.controls.bank
        intact = len(bank.processors) == len(layers) and all(
            attn.processor is processor for (attn, _), processor in zip(layers, bank.processors, strict=True))
        return bank if intact else None

    def __init__(self, unet: Any, device: torch.device, dtype: torch.dtype) -> None:
        """Install new processors in `unet`'s self-attention layers (`install` reuses the ones there)."""
        layers = _self_attention_levels(unet)
        if not layers:
            raise ValueError("the feature bank found no self-attention layers in this UNet")
        if any(attn.norm_k is not None or attn.spatial_norm is not None for attn, _ in layers):
            raise ValueError("the feature bank supports self-attention layers without q/k or spatial norms only")
        self.controls = BankControls(device)
        self.controls.bank = self
        self._layers: list[tuple[BankAttnProcessor, int]] = []
        for attn, level in layers:
            processor = BankAttnProcessor(self.controls, int(attn.to_out[0].in_features), device, dtype)
            attn.set_processor(processor)
            self._layers.append((processor, level))
        self._size: tuple[int, int] | None = None
        self._next_slot = 0
        log.info("feature bank: %d self-attention layers read up to %d past frames", len(self._layers),
                 MAX_BANK_FRAMES)

    @property
    def processors(self) -> tuple[BankAttnProcessor, ...]:
        return tuple(p for p, _ in self._layers)

    def resize(self, latent_h: int, latent_w: int) -> None:
        """Rings for this latent size (empty); nothing when it is the size they have."""
        if self._size == (latent_h, latent_w):
            return
        for processor, level in self._layers:
            processor.resize(_tokens(latent_h, latent_w, level))
        self._size = (latent_h, latent_w)
        self.clear()

    def clear(self) -> None:
        """Forget every frame held (a feedback restart, a new size, a new engine on the same backend); the next
        frame writes the first slot, as in a bank installed afresh."""
        self._next_slot = 0
        self.controls.age.fill_(_NEVER)
        self.controls.bias.fill_(float("-inf"))
        self.controls.any_valid.fill_(False)

    def bytes_held(self) -> int:
        """Device memory of the rings at their size."""
        return sum(p.keys.numel() * p.keys.element_size() * 2 for p in self.processors)

    def begin_frame(self, latent_h: int, latent_w: int, strength: float, frames: int) -> None:
        """Before a frame's UNet calls: the slot they write, the `frames` latest slots they read, the strength."""
        self.resize(latent_h, latent_w)
        c = self.controls
        slot = self._next_slot
        self._next_slot = (slot + 1) % SLOTS
        c.age.add_(1).clamp_(max=_NEVER)
        c.age[slot] = 0
        c.write_slot.fill_(slot)
        valid = (c.age >= 1) & (c.age <= min(max(frames, 1), MAX_BANK_FRAMES))
        c.bias.zero_().masked_fill_(~valid, float("-inf"))
        torch.any(valid, dim=0, out=c.any_valid)
        c.strength.fill_(strength)
