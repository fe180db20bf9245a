"""Colour coherence, contrast, anti-blur and noise stages."""

from __future__ import annotations

import pytest
import torch

from vj.engine.colour import (
    _blur_by_depthwise_conv,
    apply_contrast,
    colour_stats,
    gaussian_blur,
    hsv_to_rgb,
    lab_to_rgb,
    match_colour,
    rgb_to_hsv,
    rgb_to_lab,
    unsharp,
)
from vj.engine.noise import add_noise, noise_image


def image(seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_lab_round_trip_and_known_values() -> None:
    img = image()
    assert torch.allclose(lab_to_rgb(rgb_to_lab(img)), img, atol=1e-4)
    white = rgb_to_lab(torch.ones(1, 3, 1, 1)).flatten()
    assert white[0] == pytest.approx(100.0, abs=0.01) and abs(white[1]) < 0.01 and abs(white[2]) < 0.01
    red = rgb_to_lab(torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1)).flatten()
    assert red.tolist() == pytest.approx([53.24, 80.09, 67.20], abs=0.1)


def test_hsv_round_trip_and_pure_hues() -> None:
    img = image(1)
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(img)), img, atol=1e-5)
    green = rgb_to_hsv(torch.tensor([0.0, 1, 0]).view(1, 3, 1, 1)).flatten()
    assert green.tolist() == pytest.approx([1 / 3, 1.0, 1.0])


@pytest.mark.parametrize("space", ["rgb", "lab", "hsv"])
def test_match_colour_moves_statistics_to_the_anchor(space: str) -> None:
    anchor_img = image(2) * 0.5 + 0.25
    drifted = (image(3) * 0.9 + torch.tensor([0.1, 0.0, 0.1]).view(1, 3, 1, 1)).clamp(0, 1)
    anchor = colour_stats(anchor_img, space)
    matched = match_colour(drifted, anchor)
    after = colour_stats(matched, space)
    before = colour_stats(drifted, space)
    assert (after.mean - anchor.mean).abs().sum() < (before.mean - anchor.mean).abs().sum() * 0.25
    assert torch.equal(match_colour(drifted, anchor, amount=0.0), drifted)


def test_rgb_match_is_exact_when_nothing_clips() -> None:
    anchor = colour_stats(image(4) * 0.2 + 0.4, "rgb")
    matched = match_colour(image(5) * 0.2 + 0.4, anchor)
    got = colour_stats(matched, "rgb")
    assert torch.allclose(got.mean, anchor.mean, atol=1e-5) and torch.allclose(got.std, anchor.std, atol=1e-5)


def test_contrast_is_a_clipped_gain() -> None:
    img = torch.tensor([0.2, 0.6, 0.9]).view(1, 3, 1, 1)
    assert apply_contrast(img, 1.5).flatten().tolist() == pytest.approx([0.3, 0.9, 1.0])
    assert apply_contrast(img, 1.0) is img


def test_unsharp_adds_edge_contrast_and_threshold_protects_flat_areas() -> None:
    step = torch.zeros(1, 3, 16, 16)
    step[..., 8:] = 0.8
    sharp = unsharp(step * 0.5 + 0.1, amount=1.0, sigma=1.0)
    assert sharp[0, 0, 0, 7] < 0.1 and sharp[0, 0, 0, 8] > 0.5  # overshoot on both sides of the edge
    flat = torch.full((1, 3, 8, 8), 0.5) + torch.rand(1, 3, 8, 8) * 0.01
    assert torch.equal(unsharp(flat, 1.0, 1.0, threshold=0.1), flat)


def test_noise_is_seeded_and_blends_by_amount() -> None:
    img = torch.full((1, 3, 32, 32), 0.5)
    a = add_noise(img, 0.3, "gaussian", 7)
    assert torch.equal(a, add_noise(img, 0.3, "gaussian", 7))
    assert not torch.equal(a, add_noise(img, 0.3, "gaussian", 8))
    assert add_noise(img, 0.0, "gaussian", 7) is img
    perlin = noise_image((1, 3, 32, 32), "perlin", 1)
    assert perlin.min() >= 0 and perlin.max() <= 1
    assert not torch.equal(perlin, noise_image((1, 3, 32, 32), "gaussian", 1))
    with pytest.raises(ValueError, match="noise_type"):
        noise_image((1, 3, 8, 8), "pink", 1)


def test_prompt_blends_linear_and_slerp() -> None:
    from vj.engine.conditioning.prompt_conditioner import blend_embeddings

    a = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(1))
    b = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(2))
    linear = blend_embeddings([a, b], [1.0, 3.0], "linear")
    assert torch.allclose(linear, 0.25 * a + 0.75 * b)
    spherical = blend_embeddings([a, b], [1.0, 1.0], "slerp")
    assert spherical.norm().item() == pytest.approx(a.norm().item(), rel=0.05)
    assert spherical.norm() > blend_embeddings([a, b], [1.0, 1.0], "linear").norm()
    assert torch.equal(blend_embeddings([a], [0.3], "slerp"), a)
    with pytest.raises(ValueError, match="more than 0"):
        blend_embeddings([a, b], [0.0, 0.0])
    with pytest.raises(ValueError, match="linear or slerp"):
        blend_embeddings([a, b], [1.0, 1.0], "cubic")


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.5])
def test_cpu_blur_equals_the_separable_convolution(sigma: float) -> None:
    image = torch.rand(2, 3, 19, 23, generator=torch.Generator().manual_seed(1))
    # The GPU path (grouped convolution) runs on a CPU tensor too: it is the reference.
    assert torch.allclose(gaussian_blur(image, sigma), _blur_by_depthwise_conv(image, sigma), atol=1e-6)
    flat = torch.full((1, 3, 8, 8), 0.3)
    assert torch.allclose(gaussian_blur(flat, sigma), flat)  # replicated borders keep a flat image flat
    dot = torch.zeros(1, 1, 31, 31)
    dot[..., 15, 15] = 1.0
    blurred = gaussian_blur(dot, sigma)
    assert blurred.sum().item() == pytest.approx(1.0) and torch.equal(blurred, blurred.flip(-1).transpose(-1, -2))


def test_two_pass_std_mean_equals_torch() -> None:
    from vj.engine.colour import _std_mean

    torch.manual_seed(3)
    image = torch.rand(2, 3, 40, 24) * 120 - 20  # LAB-sized values, two frames
    std, mean = _std_mean(image)
    expected_std, expected_mean = torch.std_mean(image, dim=(2, 3), keepdim=True)
    assert std.shape == mean.shape == (2, 3, 1, 1)
    assert torch.allclose(mean, expected_mean, atol=1e-4) and torch.allclose(std, expected_std, atol=1e-4)
