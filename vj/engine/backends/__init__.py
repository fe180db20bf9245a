"""Diffusion backends: one file per implementation behind the `Backend` protocol (base.py),
loaded by name through the registry."""

from vj.engine.backends.base import Backend, BackendTuning, Variant
from vj.engine.backends.loaders import backend_names, load_backend
from vj.engine.backends.loading import pick_device, pick_dtype

__all__ = ["Backend", "BackendTuning", "Variant", "backend_names", "load_backend", "pick_device", "pick_dtype"]
