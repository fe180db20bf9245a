"""Backend name (`[model] backend`) → the function that loads it. Explicit: nothing registers itself.

The names are also `vj.config.BACKENDS`, so a preset naming an unknown backend is refused
when it is parsed, before anything loads (a test keeps the two lists equal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from vj.config import ModelConfig
from vj.engine.backends.base import Backend
from vj.engine.backends.loading import load_diffusers_backend
from vj.engine.backends.tensorrt import load_tensorrt_backend
from vj.errors import BackendUnavailable

BackendLoader = Callable[[ModelConfig], Backend]

LOADERS: Mapping[str, BackendLoader] = MappingProxyType({
    "diffusers": load_diffusers_backend,
    "tensorrt": load_tensorrt_backend,
})


def backend_names() -> tuple[str, ...]:
    return tuple(LOADERS)


def load_backend(config: ModelConfig) -> Backend:
    """Load the model `config` names with the backend it names. Raises `BackendUnavailable`."""
    loader = LOADERS.get(config.backend)
    if loader is None:
        raise BackendUnavailable(f"backend {config.backend!r} is not one of {', '.join(LOADERS)}")
    return loader(config)
