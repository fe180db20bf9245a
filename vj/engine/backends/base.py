"""The backend protocol: load, encode prompt, encode image, denoise, decode, close.

The engine only talks to this surface, so a TensorRT or any other implementation can
replace the PyTorch one without touching the frame stages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import torch

from vj.engine.backends.model_defaults import ModelDefault
from vj.engine.sampling import ModelFn, NoiseSchedule


class Backend(Protocol):
    name: str
    device: torch.device
    dtype: torch.dtype
    latent_channels: int
    vae_scale_factor: int
    schedule: NoiseSchedule
    # What the model implies where a preset sets nothing (sampler, guidance): vj.session.presets.
    param_defaults: Mapping[str, ModelDefault]

    def encode_prompt(self, text: str) -> torch.Tensor:
        """[1, tokens, dim] text embedding."""
        ...

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """[1, 3, H, W] RGB in [0, 1] → scaled latents [1, C, H/f, W/f]."""
        ...

    def denoise_fn(self, cond: torch.Tensor, negative: torch.Tensor, guidance: float) -> ModelFn:
        """A `ModelFn` (latents, t) → model output, with CFG when guidance > 1."""
        ...

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents → [1, 3, H, W] RGB in [0, 1]."""
        ...

    def check_resolution(self, width: int, height: int) -> None:
        """Raise a ValueError (vj.errors.SizeRefused: size and multiple) if the model cannot render this size."""
        ...

    def close(self) -> None: ...
