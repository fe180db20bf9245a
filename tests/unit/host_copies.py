"""Counting host→device copies: what the `meta` device does not flag by itself.

Any aten op that takes a CPU tensor of at least one dimension and produces a tensor on
another device (`.to(device)`, `copy_` into a device tensor, `torch.tensor(..., device=)`)
is a host→device copy on a real accelerator. 0-dim CPU tensors pass: torch treats them as
scalars.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


@dataclass
class HostCopies:
    count: int = 0
    ops: list[str] = field(default_factory=list)


class _Counter(TorchDispatchMode):
    def __init__(self, record: HostCopies) -> None:
        super().__init__()
        self.record = record

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = [t for t in tree_flatten((args, kwargs or {}))[0] if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        from_host = any(t.device.type == "cpu" and t.dim() > 0 for t in inputs)
        to_device = any(t.device.type != "cpu" for t in outputs)
        if from_host and to_device:
            self.record.count += 1
            self.record.ops.append(str(func))
        return out


@contextmanager
def count_host_copies() -> Iterator[HostCopies]:
    record = HostCopies()
    with _Counter(record):
        yield record
