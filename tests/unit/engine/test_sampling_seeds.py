"""Timesteps for a continuous strength, sampler maths, seed behaviours, slerp."""

from __future__ import annotations

import random

import pytest
import torch

from vj.engine.conditioning.seeds import NoiseBank, SeedSequencer, slerp
from vj.engine.sampling import NoiseSchedule, img2img, img2img_timesteps, noise_latents


def test_trailing_timesteps_match_sd_turbo_at_full_denoise() -> None:
    assert img2img_timesteps(1.0, 1) == [999]
    assert img2img_timesteps(1.0, 2) == [999, 499]
    assert img2img_timesteps(1.0, 4) == [999, 749, 499, 249]
    assert img2img_timesteps(0.5, 1) == [499]
    assert img2img_timesteps(0.5, 2) == [499, 249]
    assert img2img_timesteps(0.0, 2) == []
    assert img2img_timesteps(0.001, 4) == [0]
    with pytest.raises(ValueError):
        img2img_timesteps(1.5, 1)


def test_zero_denoise_returns_the_latents_untouched() -> None:
    latents = torch.randn(1, 4, 8, 8)
    out = img2img(lambda x, t: torch.zeros_like(x), latents, torch.randn_like(latents), denoise=0.0, steps=1,
                  sampler="euler_a", schedule=NoiseSchedule.scaled_linear(), step_noise=lambda i: latents)
    assert out is latents


@pytest.mark.parametrize("sampler", ["euler_a", "lcm"])
@pytest.mark.parametrize("steps", [1, 2, 4])
def test_an_oracle_model_recovers_the_clean_latents(sampler: str, steps: int) -> None:
    # A model that predicts the true noise must give back x0 exactly, whatever the schedule.
    schedule = NoiseSchedule.scaled_linear()
    x0 = torch.randn(1, 4, 8, 8, dtype=torch.float64)

    def oracle(x_vp: torch.Tensor, t: int) -> torch.Tensor:
        a = schedule.alpha_bar(t)
        return (x_vp - a**0.5 * x0) / (1 - a) ** 0.5

    noise = torch.randn_like(x0)
    out = img2img(oracle, x0, noise, denoise=0.8, steps=steps, sampler=sampler, schedule=schedule,
                  step_noise=lambda i: torch.randn_like(x0))
    tolerance = 1e-6 if sampler == "euler_a" else 2e-3  # LCM keeps a c_skip share of the noisy input
    assert torch.allclose(out, x0, atol=tolerance)


def test_v_prediction_oracle() -> None:
    schedule = NoiseSchedule.scaled_linear(prediction_type="v_prediction")
    x0 = torch.randn(1, 4, 8, 8, dtype=torch.float64)
    eps = torch.randn_like(x0)

    def oracle(x_vp: torch.Tensor, t: int) -> torch.Tensor:
        a = schedule.alpha_bar(t)
        e = (x_vp - a**0.5 * x0) / (1 - a) ** 0.5
        return a**0.5 * e - (1 - a) ** 0.5 * x0

    out = img2img(oracle, x0, eps, denoise=1.0, steps=2, sampler="euler_a", schedule=schedule,
                  step_noise=lambda i: torch.randn_like(x0))
    assert torch.allclose(out, x0, atol=1e-6)


def test_noise_latents_is_variance_preserving() -> None:
    schedule = NoiseSchedule.scaled_linear()
    x = noise_latents(torch.zeros(1, 4, 64, 64), torch.randn(1, 4, 64, 64), schedule, 999)
    assert x.std().item() == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize(("behavior", "expected"), [
    ("fixed", [10, 10, 10, 10, 10]),
    ("iter", [10, 11, 12, 13, 14]),
    ("ladder", [10, 12, 11, 13, 12]),
    ("alternate", [10, 11, 10, 11, 10]),
    ("schedule", [10, 10, 10, 10, 10]),
])
def test_seed_behaviours(behavior: str, expected: list[int]) -> None:
    seq = SeedSequencer()
    assert [seq.next(10, behavior) for _ in range(5)] == expected


def test_iter_every_n_and_random_and_a_new_base_restarts() -> None:
    seq = SeedSequencer()
    assert [seq.next(5, "iter", 2) for _ in range(5)] == [5, 5, 6, 6, 7]
    assert seq.next(100, "iter", 2) == 100
    rand = SeedSequencer(random.Random(1))
    values = [rand.next(3, "random") for _ in range(4)]
    assert len(set(values)) == 4 and all(0 <= v < 2**32 for v in values)
    with pytest.raises(ValueError, match="seed_behavior"):
        SeedSequencer().next(1, "sideways")


def test_slerp_keeps_the_norm_of_gaussian_noise() -> None:
    bank = NoiseBank((1, 4, 32, 32), torch.device("cpu"), torch.float32)
    a, b = bank.noise(1), bank.noise(2)
    mid = slerp(a, b, 0.5)
    assert mid.norm().item() == pytest.approx(a.norm().item(), rel=0.02)
    assert torch.lerp(a, b, 0.5).norm().item() < 0.8 * a.norm().item()  # what a plain lerp would do


def test_a_base_seed_change_morphs_over_time() -> None:
    bank = NoiseBank((1, 4, 8, 8), torch.device("cpu"), torch.float32)
    first = bank.frame_noise(1, 1, 0.0, 1.0)
    start = bank.frame_noise(2, 2, 0.0, 1.0)
    assert torch.allclose(start, first)
    mid = bank.frame_noise(2, 2, 0.5, 1.0)
    assert not torch.allclose(mid, first) and not torch.allclose(mid, bank.noise(2))
    assert torch.equal(bank.frame_noise(2, 2, 1.0, 1.0), bank.noise(2))


@pytest.mark.parametrize("behavior", ["random", "ladder"])
def test_a_restored_sequencer_gives_the_seeds_the_saved_one_would(behavior: str) -> None:
    saved = SeedSequencer(random.Random(1))
    for _ in range(3):
        saved.next(7, behavior)
    restored = SeedSequencer(random.Random(99))
    restored.restore(saved.state())
    assert [restored.next(7, behavior) for _ in range(4)] == [saved.next(7, behavior) for _ in range(4)]


def test_a_restored_noise_bank_carries_on_its_morph() -> None:
    saved = NoiseBank((1, 4, 8, 8), torch.device("cpu"), torch.float32)
    saved.frame_noise(1, 1, 0.0, 1.0)
    saved.frame_noise(2, 2, 0.25, 1.0)  # a morph from seed 1's noise starts at 0.25 s
    restored = NoiseBank((1, 4, 8, 8), torch.device("cpu"), torch.float32)
    restored.restore(saved.state(), torch.device("cpu"))
    mid = restored.frame_noise(2, 2, 0.75, 1.0)
    assert not torch.equal(mid, restored.noise(2)) and torch.equal(mid, saved.frame_noise(2, 2, 0.75, 1.0))
