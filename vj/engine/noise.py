"""Seeded noise added before diffusion: gaussian or perlin, blended with an amount.

As Deforum's web UI: out = (1 − amount)·img + amount·noise_img, where noise_img is
gaussian noise mapped to [0, 1] (or that noise shaped by fractal Perlin noise). Noise is
drawn on the frame's device from its one generator, re-seeded per frame: identical run after
run on one device (no host round trip on the GPU). Perlin's lattice (cell positions, fade
weights) depends only on the size, so it is built once per device.
"""

from __future__ import annotations

import math

import torch

from vj.choices import NOISE_TYPES, NoiseType
from vj.engine.device_constants import device_constant, device_generator


def _fade(t: torch.Tensor) -> torch.Tensor:
    return t * t * t * (t * (t * 6 - 15) + 10)


def _lattice(height: int, width: int, cells_y: int, cells_x: int,
             device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pixel: (fx, fy, u, v) [4, H, W] float and the flat index of its top-left cell corner [H, W].

    They depend on the size and cell count only, so they are built once per device.
    """
    def positions() -> tuple[torch.Tensor, torch.Tensor]:
        ys = torch.linspace(0, cells_y, height + 1)[:-1]
        xs = torch.linspace(0, cells_x, width + 1)[:-1]
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        return gy, gx

    def fractions() -> torch.Tensor:
        gy, gx = positions()
        fy, fx = gy - gy.floor(), gx - gx.floor()
        return torch.stack([fx, fy, _fade(fx), _fade(fy)])

    def corners() -> torch.Tensor:
        gy, gx = positions()
        return gy.floor().long() * (cells_x + 1) + gx.floor().long()

    key = (height, width, cells_y, cells_x)
    return (device_constant(("perlin_fractions", *key), device, torch.float32, fractions),
            device_constant(("perlin_corners", *key), device, torch.long, corners))


def perlin_2d(height: int, width: int, cells_y: int, cells_x: int, generator: torch.Generator,
              device: torch.device | str | None = None) -> torch.Tensor:
    """Classic gradient noise on a grid of cells_y × cells_x cells, roughly in [-1, 1]."""
    device = torch.device(device if device is not None else generator.device)
    angles = 2 * math.pi * torch.rand(cells_y + 1, cells_x + 1, generator=generator, device=device)
    gradients = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1).view(-1, 2)
    frac, corner00 = _lattice(height, width, cells_y, cells_x, device)
    fx, fy, u, v = frac.unbind(0)

    def corner(dy: int, dx: int) -> torch.Tensor:
        g = gradients[corner00 + (dy * (cells_x + 1) + dx)]
        return g[..., 0] * (fx - dx) + g[..., 1] * (fy - dy)

    top = torch.lerp(corner(0, 0), corner(0, 1), u)
    bottom = torch.lerp(corner(1, 0), corner(1, 1), u)
    return torch.lerp(top, bottom, v) * math.sqrt(2)


def fractal_perlin(height: int, width: int, generator: torch.Generator, cells: int = 8, octaves: int = 4,
                   persistence: float = 0.5, device: torch.device | str | None = None) -> torch.Tensor:
    """Sum of octaves of Perlin noise (Deforum: 8×8 cells, 4 octaves, persistence 0.5)."""
    device = torch.device(device if device is not None else generator.device)
    total = torch.zeros(height, width, device=device)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        scale = 2**octave
        total += amplitude * perlin_2d(height, width, cells * scale, cells * scale, generator, device)
        norm += amplitude
        amplitude *= persistence
    return total / norm


def noise_image(shape: tuple[int, int, int, int], kind: str, seed: int,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """A [0, 1] float32 noise image on `device` (the device's one generator, re-seeded)."""
    device = torch.device(device)
    if kind not in NOISE_TYPES:
        raise ValueError(f"noise_type must be {' or '.join(NOISE_TYPES)}, found {kind!r}")
    generator = device_generator(device).manual_seed(seed)
    n, c, h, w = shape
    gaussian = torch.randn(shape, generator=generator, device=device)
    if kind == NoiseType.PERLIN:
        shaping = (fractal_perlin(h, w, generator, device=device) + 1) / 2
        gaussian = gaussian * shaping.view(1, 1, h, w)
    return (gaussian * 0.5 + 0.5).clamp(0, 1)


def add_noise(image: torch.Tensor, amount: float, kind: str, seed: int) -> torch.Tensor:
    if amount <= 0.0:
        return image
    n, c, h, w = image.shape
    noise = noise_image((n, c, h, w), kind, seed, image.device).to(image.dtype)
    return torch.lerp(image, noise, amount)
