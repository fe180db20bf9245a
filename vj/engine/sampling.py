"""Few-step img2img sampling with a continuous strength, as pure functions of the schedule.

Deforum's `strength` is the fraction of the previous frame kept: denoise d = 1 − strength.
Diffusers' img2img derives its start step as int(steps · d), so a 1-step model can only be
at d = 1 or not run at all. Live, strength is a fader, so instead the timesteps are spaced
"trailing" from t_start = d·T down: for n steps t_i = round(d·T·(n − i)/n) − 1. At d = 1
this is exactly sd-turbo's [999] / [999, 499] and LCM's trailing schedule.

Two samplers (the `sampler` parameter):
- euler_a: Euler ancestral in sigma space (sd-turbo), epsilon or v prediction;
- lcm: the latent-consistency boundary-condition step (LCM / LCM-LoRA models).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vj.choices import SAMPLERS, Sampler

# (latents scaled for the UNet, timestep) -> model output (epsilon or v)
ModelFn = Callable[[torch.Tensor, int], torch.Tensor]


@dataclass(frozen=True)
class NoiseSchedule:
    """The training noise schedule of a model: ᾱ_t for t = 0 … T−1, and what the UNet predicts."""

    alphas_cumprod: torch.Tensor  # float64, on the CPU: indexing is host-side bookkeeping
    prediction_type: str = "epsilon"
    lcm_timestep_scaling: float = 10.0

    @property
    def num_train_timesteps(self) -> int:
        return int(self.alphas_cumprod.shape[0])

    @classmethod
    def scaled_linear(cls, beta_start: float = 0.00085, beta_end: float = 0.012, steps: int = 1000,
                      prediction_type: str = "epsilon") -> NoiseSchedule:
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, steps, dtype=torch.float64) ** 2
        return cls(torch.cumprod(1.0 - betas, dim=0), prediction_type)

    @functools.cached_property
    def _alpha_bars(self) -> tuple[float, ...]:
        # Host floats once: a step's coefficients are then plain arithmetic, not tensor indexing.
        return tuple(float(a) for a in self.alphas_cumprod.tolist())

    def sigma(self, t: int) -> float:
        a = self._alpha_bars[t]
        return ((1 - a) / a) ** 0.5

    def alpha_bar(self, t: int) -> float:
        return self._alpha_bars[t]


def img2img_timesteps(denoise: float, steps: int, num_train_timesteps: int = 1000) -> list[int]:
    """Trailing timesteps from denoise·T down; empty when denoise is 0 (nothing to do)."""
    if not 0.0 <= denoise <= 1.0:
        raise ValueError(f"denoise must be in 0..1, found {denoise}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, found {steps}")
    start = denoise * num_train_timesteps
    timesteps: list[int] = []
    for i in range(steps):
        t = int(round(start * (steps - i) / steps)) - 1
        if t >= 0 and (not timesteps or t < timesteps[-1]):
            timesteps.append(t)
    return timesteps


def noise_latents(latents: torch.Tensor, noise: torch.Tensor, schedule: NoiseSchedule, t: int) -> torch.Tensor:
    """Forward diffusion to timestep t (variance-preserving form): √ᾱ·x₀ + √(1−ᾱ)·ε."""
    a = schedule.alpha_bar(t)
    return latents * a**0.5 + noise * (1 - a) ** 0.5


def predict_x0(model_out: torch.Tensor, x_vp: torch.Tensor, schedule: NoiseSchedule, t: int) -> torch.Tensor:
    """The clean latent the model's output (epsilon or v) implies for x at timestep t."""
    a = schedule.alpha_bar(t)
    if schedule.prediction_type == "epsilon":
        return (x_vp - (1 - a) ** 0.5 * model_out) / a**0.5
    if schedule.prediction_type == "v_prediction":
        return a**0.5 * x_vp - (1 - a) ** 0.5 * model_out
    raise ValueError(f"unsupported prediction_type {schedule.prediction_type!r} (epsilon or v_prediction)")


def output_for_noise(noise: torch.Tensor, x_vp: torch.Tensor, schedule: NoiseSchedule, t: int) -> torch.Tensor:
    """The model output (epsilon or v) that says "x holds this noise": the inverse of `predict_x0`."""
    if schedule.prediction_type == "epsilon":
        return noise
    a = schedule.alpha_bar(t)
    x0 = (x_vp - (1 - a) ** 0.5 * noise) / a**0.5
    return a**0.5 * noise - (1 - a) ** 0.5 * x0


def sample_euler_ancestral(model: ModelFn, x_vp: torch.Tensor, timesteps: list[int], schedule: NoiseSchedule,
                           step_noise: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """Euler ancestral from x at timesteps[0] (VP form) to a clean latent.

    In sigma space x_σ = x_vp·√(σ²+1) and the UNet sees x_σ/√(σ²+1) = x_vp. `step_noise(i)`
    supplies the ancestral noise of step i (only called when there is a next step).
    """
    sigmas = [schedule.sigma(t) for t in timesteps] + [0.0]
    x = x_vp * (sigmas[0] ** 2 + 1) ** 0.5
    for i, t in enumerate(timesteps):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        scaled = x / (sigma**2 + 1) ** 0.5
        denoised = predict_x0(model(scaled, t), scaled, schedule, t)
        if sigma_next == 0.0:
            return denoised
        sigma_up = min(sigma_next, (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2) ** 0.5)
        sigma_down = (sigma_next**2 - sigma_up**2) ** 0.5
        x = denoised + (x - denoised) / sigma * sigma_down + step_noise(i) * sigma_up
    return x


def sample_lcm(model: ModelFn, x_vp: torch.Tensor, timesteps: list[int], schedule: NoiseSchedule,
               step_noise: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """Latent-consistency sampling: a consistency step per timestep, re-noised in between."""
    sigma_data = 0.5
    denoised = x_vp
    for i, t in enumerate(timesteps):
        x0 = predict_x0(model(x_vp, t), x_vp, schedule, t)
        scaled_t = t * schedule.lcm_timestep_scaling
        c_skip = sigma_data**2 / (scaled_t**2 + sigma_data**2)
        c_out = scaled_t / (scaled_t**2 + sigma_data**2) ** 0.5
        denoised = c_out * x0 + c_skip * x_vp
        if i + 1 < len(timesteps):
            x_vp = noise_latents(denoised, step_noise(i), schedule, timesteps[i + 1])
    return denoised


SamplerFn = Callable[[ModelFn, torch.Tensor, list[int], NoiseSchedule, Callable[[int], torch.Tensor]], torch.Tensor]
SAMPLER_FNS: dict[Sampler, SamplerFn] = {
    Sampler.EULER_A: sample_euler_ancestral,
    Sampler.LCM: sample_lcm,
}


def img2img(model: ModelFn, latents: torch.Tensor, noise: torch.Tensor, *, denoise: float, steps: int,
            sampler: str, schedule: NoiseSchedule, step_noise: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """Noise `latents` to denoise·T with `noise`, then sample back. denoise 0 returns them as they are."""
    timesteps = img2img_timesteps(denoise, steps, schedule.num_train_timesteps)
    if not timesteps:
        return latents
    try:
        run = SAMPLER_FNS[Sampler(sampler)]
    except ValueError:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, found {sampler!r}") from None
    x_vp = noise_latents(latents, noise, schedule, timesteps[0])
    return run(model, x_vp, timesteps, schedule, step_noise)
