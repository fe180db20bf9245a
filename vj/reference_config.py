"""The preset's `[reference]` table: the pictures an IP-Adapter model starts with, and the folder of names.

The IP-Adapter itself is a model setting (`[model] ip_adapter`); its live weight is the
parameter `ip_adapter_scale`. Checked when the preset is built, like every config table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vj.config_checks import check_range, check_scalar_fields, config_field
from vj.errors import ConfigError

MAX_REFERENCES = 8  # pictures in one blend


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferenceConfig:
    images: tuple[str, ...] = config_field((), doc="reference pictures (files) blended at the start")
    weights: tuple[float, ...] = config_field((), doc="a weight per picture (default 1 each)")
    folder: str = config_field("", doc="folder whose pictures OSC may name (/vj/reference NAME); '' = none")
    max_upload_mb: float = config_field(8.0, check_range(0.1, 64.0), "largest picture the web page may upload")

    def __post_init__(self) -> None:
        check_scalar_fields(self)
        owner = type(self).__name__
        for name in ("images", "weights"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        if not all(isinstance(image, str) and image.strip() for image in self.images):
            raise ConfigError(owner, "images", "an array of picture paths", self.images)
        if len(self.images) > MAX_REFERENCES:
            raise ConfigError(owner, "images", f"at most {MAX_REFERENCES} pictures", len(self.images))
        if self.weights and len(self.weights) != len(self.images):
            raise ConfigError(owner, "weights", f"one weight per picture ({len(self.images)})", self.weights)
        for weight in self.weights:
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                    or weight < 0:
                raise ConfigError(owner, "weights", "numbers >= 0", weight)
        if self.weights and sum(self.weights) <= 0:
            raise ConfigError(owner, "weights", "a positive sum", self.weights)

    def weighted(self) -> tuple[tuple[str, float], ...]:
        weights = self.weights or (1.0,) * len(self.images)
        return tuple(zip(self.images, (float(w) for w in weights), strict=True))
