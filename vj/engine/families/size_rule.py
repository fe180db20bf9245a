"""A model family's size rule: which frame sizes its VAE and UNet can take, and the nearest ones that fit.

Kept apart from the backends (vj.engine.backends.sizes reads the rule's factors from config files)
so that a family can state its rule without importing a backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vj.config import FRAME_SIDE_MAX, FRAME_SIDE_MIN
from vj.errors import SizeRefused


@dataclass(frozen=True, slots=True)
class SizeRule:
    """Width and height must be multiples of `vae_factor * unet_factor` pixels."""

    model: str
    vae_factor: int
    unet_factor: int

    @property
    def multiple(self) -> int:
        return self.vae_factor * self.unet_factor

    def check(self, width: int, height: int) -> None:
        if width % self.multiple or height % self.multiple:
            why = (f"the VAE downsamples by {self.vae_factor} and the UNet of {self.model} "
                   f"by {self.unet_factor} more")
            larger, smaller = nearest_sizes(width, height, self.multiple)
            nearest = tuple(size for size in (larger, smaller) if size is not None)
            raise SizeRefused(self.model, width, height, self.multiple, why, nearest)


Size = tuple[int, int]


def nearest_sizes(width: int, height: int, multiple: int) -> tuple[Size | None, Size | None]:
    """(larger, smaller): the sizes in multiples of `multiple` one step around width×height, nearest in aspect.

    Each side rounds down or up to the multiple; of those four sizes, the larger ones in area
    (at least width×height) and the smaller ones each give the one whose aspect is nearest the
    asked one (then the nearest in area). None where the engine's limits leave no such size.
    """
    def sides(n: int) -> set[int]:
        down = n // multiple * multiple
        return {side for side in (down, down + multiple if n % multiple else down)
                if FRAME_SIDE_MIN <= side <= FRAME_SIDE_MAX}

    area, aspect = width * height, width / height

    def distance(size: Size) -> tuple[float, int]:
        return abs(math.log(size[0] / size[1] / aspect)), abs(size[0] * size[1] - area)

    sizes = [(w, h) for w in sides(width) for h in sides(height) if (w, h) != (width, height)]
    larger = [size for size in sizes if size[0] * size[1] >= area]
    smaller = [size for size in sizes if size[0] * size[1] < area]
    return min(larger, key=distance, default=None), min(smaller, key=distance, default=None)
