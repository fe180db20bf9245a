"""Seed behaviours (Deforum's `next_seed`) and seed morphs in noise space.

The seed advances once per diffused frame: fixed, iter (+1 every N), random, ladder
(+2, −1, …), alternate (+1, −1, …) or schedule (the `seed` parameter as given, e.g. from a
seed schedule). A *live* change of the base seed is a morph, not a jump: the diffusion
noise slerps from the old seed's noise to the new one's over `seed_morph_s`, keeping the
norm of unit gaussian noise.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch

from vj.choices import SEED_BEHAVIORS, SeedBehavior
from vj.engine.device_constants import device_generator
from vj.registry import SEED_MODULUS


@dataclass(frozen=True, slots=True)
class SeedState:
    """Where a `SeedSequencer` stands: its random generator's state and the sequence so far."""

    rng: tuple[Any, ...]  # `random.Random.getstate()`
    base: int | None
    current: int
    count: int


class SeedSequencer:
    """Yields the seed of each diffused frame from the behaviour and the base seed."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random(0)
        self._base: int | None = None
        self._current = 0
        self._count = 0

    def next(self, base_seed: int, behavior: str, iter_n: int = 1) -> int:
        try:
            mode = SeedBehavior(behavior)
        except ValueError:
            raise ValueError(f"unknown seed_behavior {behavior!r}; expected one of {', '.join(SEED_BEHAVIORS)}"
                             ) from None
        if base_seed != self._base:  # a new base (preset, OSC, schedule) restarts the sequence
            self._base = base_seed
            self._current = base_seed
            self._count = 0
            return self._current if mode is not SeedBehavior.RANDOM else self._random()
        self._count += 1
        if mode in (SeedBehavior.FIXED, SeedBehavior.SCHEDULE):
            pass
        elif mode is SeedBehavior.ITER:
            if self._count % max(iter_n, 1) == 0:
                self._current += 1
        elif mode is SeedBehavior.LADDER:
            self._current += 2 if self._count % 2 == 1 else -1
        elif mode is SeedBehavior.ALTERNATE:
            self._current += 1 if self._count % 2 == 1 else -1
        else:  # random
            return self._random()
        self._current %= SEED_MODULUS
        return self._current

    def _random(self) -> int:
        self._current = self._rng.randrange(SEED_MODULUS)
        return self._current

    def state(self) -> SeedState:
        return SeedState(self._rng.getstate(), self._base, self._current, self._count)

    def restore(self, state: SeedState) -> None:
        """Carry on from `state`: the next seeds are those the saved sequencer would have given."""
        self._rng.setstate(state.rng)
        self._base, self._current, self._count = state.base, state.current, state.count


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation of two tensors seen as flat vectors (linear when parallel).

    Both branches are weights computed on the device and chosen there (`torch.where`): no
    host read of the angle, so a morph or a prompt slerp never waits for the GPU.
    """
    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    a_flat, b_flat = a.flatten().double(), b.flatten().double()
    cos = torch.dot(a_flat, b_flat) / (a_flat.norm() * b_flat.norm()).clamp(min=eps)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    parallel = omega.abs() < 1e-4
    sin = torch.where(parallel, torch.ones_like(omega), torch.sin(omega))
    weight_a = torch.where(parallel, torch.full_like(omega, 1 - t), torch.sin((1 - t) * omega) / sin)
    weight_b = torch.where(parallel, torch.full_like(omega, t), torch.sin(t * omega) / sin)
    out = weight_a * a_flat + weight_b * b_flat
    return out.view_as(a).to(a.dtype)


@dataclass(frozen=True, slots=True)
class NoiseState:
    """A `NoiseBank`'s seed morph: where it started, and the base seed and noise of the last frame.

    The tensors are the bank's own (not copies): serialise or copy them before the next frame.
    """

    morph_from: torch.Tensor | None
    morph_start_s: float
    last_base: int | None
    last_noise: torch.Tensor | None


class NoiseBank:
    """Latent noise per seed (cached), and the morph between the previous and new base seed.

    Drawn with the device's one generator, re-seeded; an evicted seed's tensor is refilled
    for the next seed instead of allocating one (unless the morph still holds it).
    """

    def __init__(self, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype, capacity: int = 16) -> None:
        self.shape = shape
        self.device = device
        self.dtype = dtype
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._capacity = capacity
        self._morph_from: torch.Tensor | None = None
        self._morph_start_s = 0.0
        self._last_base: int | None = None
        self._last_noise: torch.Tensor | None = None

    def noise(self, seed: int) -> torch.Tensor:
        cached = self._cache.get(seed)
        if cached is not None:
            self._cache.move_to_end(seed)
            return cached
        buffer = None
        if len(self._cache) >= self._capacity:
            _, evicted = self._cache.popitem(last=False)
            if evicted is not self._last_noise and evicted is not self._morph_from:
                buffer = evicted
        generator = device_generator(self.device).manual_seed(seed)
        # randn is normal_ on a fresh tensor: refilling a buffer with normal_ draws the same numbers.
        if buffer is not None and self.dtype == torch.float32:
            noise = buffer.normal_(generator=generator)
        else:
            drawn = torch.randn(self.shape, generator=generator, device=self.device, dtype=torch.float32)
            noise = drawn.to(self.dtype) if buffer is None else buffer.copy_(drawn)
        self._cache[seed] = noise
        return noise

    def frame_noise(self, seed: int, base_seed: int, now_s: float, morph_s: float) -> torch.Tensor:
        """Noise for this frame; a change of base seed starts a slerp from the last noise."""
        target = self.noise(seed)
        base_changed = self._last_base is not None and base_seed != self._last_base
        if base_changed and morph_s > 0 and self._last_noise is not None:
            self._morph_from = self._last_noise
            self._morph_start_s = now_s
        self._last_base = base_seed
        if self._morph_from is not None:
            progress = (now_s - self._morph_start_s) / morph_s if morph_s > 0 else 1.0
            if progress >= 1.0:
                self._morph_from = None
            else:
                target = slerp(self._morph_from, target, progress)
        self._last_noise = target
        return target

    def resize(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self._cache.clear()
        self._morph_from = None
        self._last_noise = None

    def drop_cache(self) -> int:
        """Let go of the cached noise per seed (redrawn, identical, when asked again); how many tensors."""
        dropped = len(self._cache)
        self._cache.clear()
        return dropped

    def state(self) -> NoiseState:
        return NoiseState(self._morph_from, self._morph_start_s, self._last_base, self._last_noise)

    def restore(self, state: NoiseState, device: torch.device) -> None:
        """Carry on the morph of `state`; the cache of noise per seed refills itself as it is asked."""
        self._morph_from = None if state.morph_from is None else state.morph_from.to(device)
        self._morph_start_s = float(state.morph_start_s)
        self._last_base = state.last_base
        self._last_noise = None if state.last_noise is None else state.last_noise.to(device)
