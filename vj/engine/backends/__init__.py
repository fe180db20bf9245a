"""Diffusion backends: one file per implementation behind the `Backend` protocol."""

from vj.engine.backends.base import Backend
from vj.engine.backends.loading import load_backend, pick_device, pick_dtype

__all__ = ["Backend", "load_backend", "pick_device", "pick_dtype"]
