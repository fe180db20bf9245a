"""The backend surface: one file per implementation, the same few methods and lifecycle.

    load (vj.engine.backends.loaders.load_backend) → warmup(variants) → per frame:
    encode_image → predict_noise (once per step, fixed batch) → decode … → close

Prompts are encoded off the render thread with `encode_prompt` into a `Conditioning`.
Classifier-free guidance is not the backend's business (vj.engine.conditioning.guidance composes
`predict_noise` calls), so every backend gets every guidance mode. The engine only talks
to this surface, so TensorRT or any other implementation can replace the PyTorch one
without touching the frame stages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from vj.engine.backends.model_defaults import ModelDefault
from vj.engine.conditioning.embeddings import Conditioning
from vj.engine.sampling import NoiseSchedule

# (variants done, variants in all): called after each warmed variant.
WarmupProgress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, order=True)
class Variant:
    """One shape the show may run: a render size, a UNet batch and a step count."""

    width: int
    height: int
    batch: int = 1
    steps: int = 1

    def __str__(self) -> str:
        return f"{self.width}x{self.height} batch {self.batch}, {self.steps} step{'s' if self.steps > 1 else ''}"


@dataclass(frozen=True, slots=True)
class BackendTuning:
    """Speed switches, default off: measured on a GPU by benchmarks/gpu_loop.py; kept only if faster."""

    cudnn_benchmark: bool = False  # let cuDNN time its convolution algorithms per shape (CUDA only)
    channels_last: bool = False  # NHWC memory format for the UNet and VAE
    fuse_qkv: bool = False  # one fused QKV projection per attention layer instead of three


class Backend(Protocol):
    name: str
    device: torch.device
    dtype: torch.dtype
    latent_channels: int
    vae_scale_factor: int
    schedule: NoiseSchedule
    # An LCM-distilled UNet takes the guidance scale as an input embedding: no CFG around it.
    embeds_guidance: bool
    # What the model implies where a preset sets nothing (sampler, guidance): vj.session.presets.
    param_defaults: Mapping[str, ModelDefault]

    def check_resolution(self, width: int, height: int) -> None:
        """Raise a ValueError (vj.errors.SizeRefused: size and multiple) if the model cannot render this size."""
        ...

    def warmup(self, variants: Sequence[Variant], progress: WarmupProgress | None = None) -> None:
        """Run every variant once (compiles, CUDA-graph captures, autotuning) before the show."""
        ...

    def encode_prompt(self, text: str) -> Conditioning:
        """Text → a batch-1 `Conditioning` (called off the render thread, cached by text)."""
        ...

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """[1, 3, H, W] RGB in [0, 1] → scaled latents [1, C, H/f, W/f]."""
        ...

    def predict_noise(self, latents: torch.Tensor, t: int, cond: Conditioning, guidance: float = 1.0) -> torch.Tensor:
        """The model's output (epsilon or v) for latents [B, C, h, w] at timestep index `t`, float32.

        `cond` has the same batch B. `guidance` reaches the model only when `embeds_guidance`.
        Makes no host→device copy and no host read of device data.
        """
        ...

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents → [1, 3, H, W] RGB in [0, 1], float32, owned by the caller."""
        ...

    def close(self) -> None: ...
