"""Classifier-free guidance around a backend's `predict_noise`, in three modes (`[model] cfg`).

Guidance g > 1 pushes the prediction away from a negative one: guided = neg + g·(text − neg).

- `full`: the negative prompt is evaluated at every step in the same UNet call (batch 2).
  Twice the UNet work, and the batch changes when guidance crosses 1, so warm-up captures
  both batches before the show.
- `rcfg-self` (residual CFG, the default): no negative prompt at all. In img2img the input
  latent at a step is x = √ᾱ·x₀ + √(1−ᾱ)·ε, with x₀ the picture the step starts from (the
  input image at the first step, the previous step's estimate after). The noise ε that x
  holds is what a prediction that changes nothing would say; scaled by δ it serves as the
  negative: neg = δ·(x − √ᾱ·x₀)/√(1−ᾱ), in the model's output space. One UNet call a step,
  always batch 1.
- `rcfg-initialize`: the first step evaluates the negative prompt (a second batch-1 call),
  later steps use the residual as in `rcfg-self`. One UNet call a step plus one.

LCM-distilled UNets embed the guidance scale; they get no CFG, whatever the mode. The idea
of a residual (virtual) negative is StreamDiffusion's RCFG; this is our own formulation
for a sequential few-step sampler.
"""

from __future__ import annotations

import torch

from vj.choices import CFG_MODES, CfgMode
from vj.engine.backends.base import Backend
from vj.engine.conditioning.embeddings import Conditioning
from vj.engine.sampling import ModelFn, output_for_noise, predict_x0


def uses_cfg(backend: Backend, guidance: float) -> bool:
    return guidance > 1.0 and not backend.embeds_guidance


def unet_batches(mode: str, *, embeds_guidance: bool) -> tuple[int, ...]:
    """Every UNet batch a show in this mode may run (what warm-up must cover)."""
    return (1, 2) if mode == CfgMode.FULL and not embeds_guidance else (1,)


class GuidedModel:
    """A `ModelFn` (latents, t) → guided model output, for one img2img call.

    `reference`: the clean latents the call starts from (the encoded input image); the
    residual modes track the clean estimate from step to step from there.
    """

    def __init__(self, backend: Backend, cond: Conditioning, negative: Conditioning, guidance: float, *,
                 mode: str, delta: float, reference: torch.Tensor) -> None:
        if mode not in CFG_MODES:
            raise ValueError(f"cfg mode must be one of {', '.join(CFG_MODES)}; found {mode!r}")
        self.backend = backend
        self.cond, self.negative = cond, negative
        self.guidance = guidance
        self.mode = mode
        self.delta = delta
        self.reference = reference
        self.calls = 0
        self._paired = negative.cat(cond) if mode == CfgMode.FULL and uses_cfg(backend, guidance) else None

    def __call__(self, latents: torch.Tensor, t: int) -> torch.Tensor:
        backend, g = self.backend, self.guidance
        first, self.calls = self.calls == 0, self.calls + 1
        if not uses_cfg(backend, g):
            return backend.predict_noise(latents, t, self.cond, g)
        if self._paired is not None:
            uncond, text = backend.predict_noise(torch.cat([latents, latents]), t, self._paired).chunk(2)
            return uncond + g * (text - uncond)
        text = backend.predict_noise(latents, t, self.cond)
        if first and self.mode == CfgMode.RCFG_INITIALIZE:
            negative = backend.predict_noise(latents, t, self.negative)
        else:
            negative = self._residual(latents, t)
        guided = negative + g * (text - negative)
        self.reference = predict_x0(guided, latents, backend.schedule, t)
        return guided

    def _residual(self, latents: torch.Tensor, t: int) -> torch.Tensor:
        schedule = self.backend.schedule
        a = schedule.alpha_bar(t)
        noise = (latents - a**0.5 * self.reference) / (1 - a) ** 0.5
        return output_for_noise(self.delta * noise, latents, schedule, t)


def guided_model(backend: Backend, cond: Conditioning, negative: Conditioning, guidance: float, *,
                 mode: str, delta: float, reference: torch.Tensor) -> ModelFn:
    return GuidedModel(backend, cond, negative, guidance, mode=mode, delta=delta, reference=reference)
