"""Latent blend: the previous frame's output latent mixed into the next frame's start (the cheap steadier).

Before the noise goes on, the encoded init latent moves toward the latent the last diffusion
ended on by `latent_blend` (0: untouched, exactly). The blend runs in the engine, outside any
compiled graph, as one device lerp; the held latent is the sampler's own output, so keeping it
costs no extra work. A latent of another size (a resize) is not blended and is replaced.
"""

from __future__ import annotations

import torch


class LatentBlend:
    def __init__(self) -> None:
        self._previous: torch.Tensor | None = None

    def start(self, latents: torch.Tensor, amount: float) -> torch.Tensor:
        """The start latent of this frame's diffusion."""
        previous = self._previous
        if amount <= 0.0 or previous is None or previous.shape != latents.shape:
            return latents
        return torch.lerp(latents, previous.to(latents.dtype), amount)

    def keep(self, latents: torch.Tensor) -> None:
        """The latent this frame's diffusion ended on: the next frame's blend target."""
        self._previous = latents

    def clear(self) -> None:
        self._previous = None
