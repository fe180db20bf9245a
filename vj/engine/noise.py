"""Seeded noise added before diffusion: gaussian or perlin, blended with an amount.

As Deforum's web UI: out = (1 − amount)·img + amount·noise_img, where noise_img is
gaussian noise mapped to [0, 1] (or that noise shaped by fractal Perlin noise). Noise is
drawn on the frame's device from a generator seeded per frame: identical run after run on
one device (no host round trip on the GPU).
"""

from __future__ import annotations

import math

import torch

from vj.registry import NOISE_TYPES, NoiseType


def _fade(t: torch.Tensor) -> torch.Tensor:
    return t * t * t * (t * (t * 6 - 15) + 10)


def perlin_2d(height: int, width: int, cells_y: int, cells_x: int, generator: torch.Generator) -> torch.Tensor:
    """Classic gradient noise on a grid of cells_y × cells_x cells, roughly in [-1, 1]."""
    device = generator.device
    angles = 2 * math.pi * torch.rand(cells_y + 1, cells_x + 1, generator=generator, device=device)
    gradients = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)
    ys = torch.linspace(0, cells_y, height + 1, device=device)[:-1]
    xs = torch.linspace(0, cells_x, width + 1, device=device)[:-1]
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    y0, x0 = gy.floor().long(), gx.floor().long()
    fy, fx = gy - y0, gx - x0

    def corner(dy: int, dx: int) -> torch.Tensor:
        g = gradients[y0 + dy, x0 + dx]
        return g[..., 0] * (fx - dx) + g[..., 1] * (fy - dy)

    u, v = _fade(fx), _fade(fy)
    top = torch.lerp(corner(0, 0), corner(0, 1), u)
    bottom = torch.lerp(corner(1, 0), corner(1, 1), u)
    return torch.lerp(top, bottom, v) * math.sqrt(2)


def fractal_perlin(height: int, width: int, generator: torch.Generator, cells: int = 8, octaves: int = 4,
                   persistence: float = 0.5) -> torch.Tensor:
    """Sum of octaves of Perlin noise (Deforum: 8×8 cells, 4 octaves, persistence 0.5)."""
    total = torch.zeros(height, width, device=generator.device)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        scale = 2**octave
        total += amplitude * perlin_2d(height, width, cells * scale, cells * scale, generator)
        norm += amplitude
        amplitude *= persistence
    return total / norm


def noise_image(shape: tuple[int, int, int, int], kind: str, seed: int,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """A [0, 1] float32 noise image on `device`."""
    generator = torch.Generator(device=device).manual_seed(seed)
    n, c, h, w = shape
    gaussian = torch.randn(shape, generator=generator, device=device)
    if kind == NoiseType.PERLIN:
        shaping = (fractal_perlin(h, w, generator) + 1) / 2
        gaussian = gaussian * shaping.view(1, 1, h, w)
    elif kind != NoiseType.GAUSSIAN:
        raise ValueError(f"noise_type must be {' or '.join(NOISE_TYPES)}, found {kind!r}")
    return (gaussian * 0.5 + 0.5).clamp(0, 1)


def add_noise(image: torch.Tensor, amount: float, kind: str, seed: int) -> torch.Tensor:
    if amount <= 0.0:
        return image
    n, c, h, w = image.shape
    noise = noise_image((n, c, h, w), kind, seed, image.device).to(image.dtype)
    return torch.lerp(image, noise, amount)
