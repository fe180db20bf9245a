"""What a show needs in device memory, known before any weight loads.

- **weights: counted.** Each model the backend puts on the device (UNet, text encoders, VAE or
  TAESD, ControlNets, the depth model) is built from its config file on the `meta` device (no
  memory, no weights read) and its parameters counted, times the bytes of the dtype it runs in
  (an SDXL VAE whose config says force_upcast runs in float32 under float16). A LoRA's adapter
  matrices, which peft keeps beside the fused weights, are counted from its safetensors header.
- **activations: modelled** from the configs' shapes at the largest size warmed and the largest
  UNet batch (full CFG: 2). The stages of a frame run one after another and the caching allocator
  reuses freed blocks, so the peak is the largest stage's, plus the frame buffers:
  - UNet: every skip tensor its down path keeps for the up path (exact from the config), plus the
    working set of its heaviest block: 20 x C x N at a level with attention (18 counted in the GEGLU
    feed-forward, 4x inner width: projection 8C, gate 4C, product 4C, residual stream and norm 2C;
    2 more seen in the traced peak, from reshape copies) or 4 x (C + C_next) x N at one without
    (the up block's concatenated input, its norm, SiLU and conv output). A ControlNet adds one more
    set of skip tensors (its residuals, held while the UNet runs). Attention is assumed
    memory-efficient (PyTorch's SDPA on CUDA): no N^2 scores.
  - VAE: 3 x its largest encoder or decoder tensor (a ResnetBlock2D holds its input for the
    shortcut, the norm output and the SiLU output at once); batch 1.
  - depth model (Depth Anything / DPT): (6 + mlp_ratio) x hidden x tokens for the ViT (its four
    tapped hidden states, the stream and the MLP) plus 2 x fusion width x input pixels (the head).
  - frame buffers: 8 float32 RGB frames at the render size (feedback, warp, input, colour anchor,
    outputs).
  Steps add nothing: each step's memory is freed before the next.
- **graphs: modelled.** Under compile jit on CUDA, the captured graphs share one memory pool
  (cudagraph trees) as large as the largest captured call, kept beside the caching allocator's
  blocks from the eager warm-up runs, plus each graph's output tensors.
- **margin: stated.** 10 % of the rest plus 512 MiB for CUDA's workspaces (cuBLAS, cuDNN) and
  allocator fragmentation.

The UNet, VAE and depth constants are checked against the peak of the real forward's own tensors
traced on `meta` (tests/contract/test_memory_estimate_meta.py); none of the modelled parts has
been measured on a GPU yet (docs/guide/gpu.md says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from vj.engine.coherence.feature_bank import SLOTS, ring_bytes
from vj.engine.memory_models import MemoryPlan as MemoryPlan  # the plan is the estimate's input: one import
from vj.engine.memory_models import MetaModel, PlanModels, build_models, dtype_bytes, vae_factor
from vj.engine.memory_models import parameter_count as parameter_count

WEIGHTS, ACTIVATIONS, GRAPHS, MARGIN = "weights", "activations", "graphs", "margin"
MIB = 1024**2
GIB = 1024**3
MARGIN_FRACTION = 0.10
MARGIN_FIXED = 512 * MIB
FRAME_BUFFERS = 8  # float32 RGB frames the loop holds at the render size
ATTENTION_WORKING = 20  # x C x N: a transformer block at its peak (18 counted, 2 for reshape copies)
RESNET_WORKING = 4  # x (C + C_next) x N: an up block's resnet on its concatenated input
VAE_WORKING = 3  # x the largest VAE tensor
DEPTH_VIT_WORKING = 6  # + mlp_ratio, x hidden x tokens
DEPTH_HEAD_WORKING = 2  # x fusion width x input pixels (the head upsampled to the input size)


@dataclass(frozen=True, slots=True)
class Part:
    """One line of the estimate."""

    component: str
    kind: str  # WEIGHTS, ACTIVATIONS, GRAPHS or MARGIN
    nbytes: int
    detail: str


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    parts: tuple[Part, ...]
    unknown: tuple[str, ...] = ()  # what could not be estimated (no config on this machine)

    @property
    def total(self) -> int:
        return sum(p.nbytes for p in self.parts)

    def of_kind(self, kind: str) -> int:
        return sum(p.nbytes for p in self.parts if p.kind == kind)

    @property
    def complete(self) -> bool:
        return not self.unknown


# ---------------------------------------------------------------------------- activations (modelled)
def unet_batch(plan: MemoryPlan, models: PlanModels) -> int:
    """The plan's batch, 1 for a UNet that embeds guidance (LCM): full CFG never doubles its batch."""
    embeds = models.unet is not None and models.unet.config.get("time_cond_proj_dim") is not None
    return 1 if embeds else plan.batch


def unet_skip_elements(unet_config: Mapping[str, Any], batch: int, latent_h: int, latent_w: int) -> int:
    """Elements of the tensors the UNet's down path keeps for its up path (and a ControlNet's residuals)."""
    channels = list(unet_config["block_out_channels"])
    per_block = unet_config.get("layers_per_block", 2)
    levels = len(channels)
    total = channels[0] * batch * latent_h * latent_w  # conv_in
    for i, c in enumerate(channels):
        layers = per_block[i] if isinstance(per_block, list | tuple) else per_block
        total += (int(layers) + (1 if i < levels - 1 else 0)) * c * batch * (latent_h >> i) * (latent_w >> i)
    return total


def unet_working_elements(unet_config: Mapping[str, Any], batch: int, latent_h: int, latent_w: int) -> int:
    """Elements live inside the UNet's heaviest block, beside the skip tensors."""
    channels = list(unet_config["block_out_channels"])
    kinds = list(unet_config.get("down_block_types", ()))
    heaviest = 0
    for i, c in enumerate(channels):
        n = batch * (latent_h >> i) * (latent_w >> i)
        attention = i < len(kinds) and "CrossAttn" in str(kinds[i])
        nxt = channels[i + 1] if i + 1 < len(channels) else c
        heaviest = max(heaviest, ATTENTION_WORKING * c * n if attention else RESNET_WORKING * (c + nxt) * n)
    return heaviest


def vae_peak_elements(vae_config: Mapping[str, Any], width: int, height: int) -> int:
    """VAE_WORKING x the largest tensor of its encoder or decoder at one frame."""
    pixels = width * height
    if "encoder_block_out_channels" in vae_config:  # TAESD: full resolution at both ends
        ends = (vae_config["encoder_block_out_channels"][0], vae_config["decoder_block_out_channels"][-1])
        return VAE_WORKING * max(ends) * pixels
    channels = list(vae_config["block_out_channels"])
    levels = len(channels)
    largest = channels[0] * pixels  # the encoder's first block
    reverse = channels[::-1]
    for i, c in enumerate(reverse):  # decoder block i works at pixels / 4^(levels-1-i)
        at = pixels >> (2 * (levels - 1 - i))
        largest = max(largest, max(reverse[i - 1] if i else c, c) * at)
        if i < levels - 1:
            largest = max(largest, c * (at << 2))  # its upsampler's output
    return VAE_WORKING * largest


def depth_peak_elements(config: Any, width: int, height: int, resolution: int) -> int:
    from vj.engine.warp.depth_estimator import model_input_size

    backbone = getattr(config, "backbone_config", None) or config
    patch = int(getattr(config, "patch_size", None) or getattr(backbone, "patch_size", None) or 14)
    h, w = model_input_size(width, height, resolution, patch)
    tokens = (h // patch) * (w // patch)
    hidden = int(getattr(backbone, "hidden_size", 384))
    mlp = float(getattr(backbone, "mlp_ratio", 4))
    fusion = int(getattr(config, "fusion_hidden_size", 256))
    return int((DEPTH_VIT_WORKING + mlp) * hidden * tokens + DEPTH_HEAD_WORKING * fusion * h * w)


# ---------------------------------------------------------------------------- the estimate
def _weights(models: PlanModels) -> list[Part]:
    parts: list[Part] = []

    def add(name: str, model: MetaModel | None) -> None:
        if model is None:
            return
        count, size = parameter_count(model.module), dtype_bytes(model.dtype)
        parts.append(Part(name, WEIGHTS, count * size,
                          f"{count / 1e6:,.1f} M parameters x {size} B ({str(model.dtype).removeprefix('torch.')})"))

    add("UNet", models.unet)
    for i, encoder in enumerate(models.text_encoders):
        add("text encoder" + (f" {i + 1}" if len(models.text_encoders) > 1 else ""), encoder)
    add("tiny VAE" if models.tiny_vae else "VAE", models.vae)
    for i, unit in enumerate(models.controlnets):
        add(f"ControlNet {i}", unit)
    size = dtype_bytes(models.unet.dtype if models.unet is not None else torch.float32)
    for i, (source, count) in enumerate(models.loras):
        parts.append(Part(f"LoRA {i}", WEIGHTS, count * size, f"{count / 1e6:,.1f} M elements x {size} B ({source})"))
    for i, depth in enumerate(models.depths):
        add("depth model" + (f" {i + 1}" if len(models.depths) > 1 else ""), depth)
    add("IP-Adapter image encoder", models.image_encoder)
    if models.ip_adapter is not None:
        source, count = models.ip_adapter
        parts.append(Part("IP-Adapter", WEIGHTS, count * size, f"{count / 1e6:,.1f} M elements x {size} B ({source})"))
    return parts


def _activations(plan: MemoryPlan, models: PlanModels) -> tuple[list[Part], int]:
    """The activation parts at the largest warmed size, and the largest single stage's bytes."""
    width, height = max(plan.sizes, key=lambda s: s[0] * s[1])
    factor = vae_factor(models)
    lh, lw = height // factor, width // factor
    stages: list[Part] = []
    batch = unet_batch(plan, models)
    if models.unet is not None:
        size = dtype_bytes(models.unet.dtype)
        skips = unet_skip_elements(models.unet.config, batch, lh, lw)
        working = unet_working_elements(models.unet.config, batch, lh, lw)
        residuals = skips if models.controlnets else 0
        with_controls = f", + ControlNet residuals {residuals * size / MIB:,.0f} MiB" if residuals else ""
        stages.append(Part("UNet", ACTIVATIONS, (skips + working + residuals) * size,
                           f"batch {batch} at {lw}x{lh} latents: skips {skips * size / MIB:,.0f} MiB + "
                           f"heaviest block {working * size / MIB:,.0f} MiB{with_controls}"))
    if models.vae is not None:
        size = dtype_bytes(models.vae.dtype)
        stages.append(Part("tiny VAE" if models.tiny_vae else "VAE", ACTIVATIONS,
                           vae_peak_elements(models.vae.config, width, height) * size,
                           f"{VAE_WORKING} x its largest tensor at {width}x{height}"))
    for depth in models.depths:
        size = dtype_bytes(depth.dtype)
        stages.append(Part("depth model", ACTIVATIONS,
                           depth_peak_elements(depth.config, width, height, plan.depth_resolution) * size,
                           f"at resolution {plan.depth_resolution}"))
    peak = max(stages, key=lambda p: p.nbytes, default=None)
    parts = [] if peak is None else [Part(f"{peak.component} (the largest stage)", ACTIVATIONS, peak.nbytes,
                                          peak.detail + "; stages run one after another: only the largest counts")]
    if plan.feature_bank and models.unet is not None:
        rings = ring_bytes(models.unet.module, lh, lw, dtype_bytes(models.unet.dtype))
        parts.append(Part("feature bank", ACTIVATIONS, rings, f"keys and values of {SLOTS} frames in every "
                          f"self-attention layer at {lw}x{lh} latents"))
    frames = FRAME_BUFFERS * 3 * width * height * 4
    parts.append(Part("frame buffers", ACTIVATIONS, frames, f"{FRAME_BUFFERS} float32 RGB frames at {width}x{height}"))
    return parts, peak.nbytes if peak is not None else 0


def _graphs(plan: MemoryPlan, models: PlanModels, peak: int) -> list[Part]:
    if not plan.cuda_graphs or models.unet is None:
        return []
    latent_channels = int(models.unet.config.get("in_channels", 4))
    factor = vae_factor(models)
    size = dtype_bytes(plan.dtype)
    outputs = 0
    shapes = {(w, h, b) for w, h in plan.sizes for b in range(1, unet_batch(plan, models) + 1)}
    for w, h, b in shapes:
        outputs += (2 * latent_channels * (h // factor) * (w // factor) * b + 3 * w * h) * size
    units = max(len(models.controlnets), 1)
    return [Part("CUDA-graph pool", GRAPHS, peak + outputs * units,
                 f"one pool as large as the largest call, beside the eager warm-up's blocks, + the outputs of "
                 f"{len(shapes) * units} graph(s) per call")]


def estimate_memory(plan: MemoryPlan) -> MemoryEstimate:
    """The estimate of `plan`, or as much of it as the config files on this machine allow."""
    if not plan.sizes:
        raise ValueError("a memory estimate needs at least one frame size")
    models = build_models(plan)
    parts = _weights(models)
    activations, peak = _activations(plan, models)
    parts += activations + _graphs(plan, models, peak)
    counted = sum(p.nbytes for p in parts)
    margin = int(counted * MARGIN_FRACTION) + MARGIN_FIXED
    parts.append(Part("safety margin", MARGIN, margin,
                      f"{MARGIN_FRACTION:.0%} + {MARGIN_FIXED // MIB} MiB (CUDA workspaces, fragmentation)"))
    return MemoryEstimate(tuple(parts), tuple(models.unknown))


def gib(nbytes: int) -> str:
    return f"{nbytes / GIB:.1f} GiB"


def readable(nbytes: int) -> str:
    """MiB below a GiB, else GiB: a table of parts where some are small."""
    return gib(nbytes) if nbytes >= GIB else f"{nbytes / MIB:,.0f} MiB"
