"""Constants of the frame stages, built once per (device, dtype, size) and kept on the device.

A colour matrix or a warp's base grid made with `torch.tensor(..., device=gpu)` every frame
is a host→device copy from pageable memory every frame: the CPU waits for it. Here each is
built (and copied) the first time a stage asks for it, then reused; a steady-state frame
only reads them. Keys name what was built, so two stages never share a tensor by accident.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import torch

_CAPACITY = 256  # sizes × dtypes × stages: a show uses a handful; the bound only stops a leak
_cache: OrderedDict[tuple[Hashable, ...], torch.Tensor] = OrderedDict()
_lock = threading.Lock()
_generators: dict[torch.device, torch.Generator] = {}


def device_constant(key: Hashable, device: torch.device, dtype: torch.dtype,
                    build: Callable[[], torch.Tensor]) -> torch.Tensor:
    """The tensor `build()` makes (on the CPU or anywhere), on `device` in `dtype`, built once per key.

    Callers must treat the result as read-only: every frame shares it.
    """
    full_key = (key, torch.device(device), dtype)
    with _lock:
        found = _cache.get(full_key)
        if found is not None:
            _cache.move_to_end(full_key)
            return found
    value = build().to(device=device, dtype=dtype)
    with _lock:
        _cache[full_key] = value
        while len(_cache) > _CAPACITY:
            _cache.popitem(last=False)
    return value


def device_generator(device: torch.device) -> torch.Generator:
    """One random generator per device, re-seeded per draw (no generator object per frame).

    The `meta` device has no generators of its own; a CPU one stands in (meta tensors draw
    nothing, so only the seeding is exercised). The render thread is the only caller.
    """
    device = torch.device(device)
    found = _generators.get(device)
    if found is None:
        found = torch.Generator(device="cpu" if device.type == "meta" else device)
        _generators[device] = found
    return found


def cached_constants() -> int:
    """How many constants are cached (tests: a steady-state frame builds none)."""
    with _lock:
        return len(_cache)
