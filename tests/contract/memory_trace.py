"""Full-size configs written as diffusers folders (no weights), and the live-tensor peak of a forward on `meta`.

`config_folder` writes what the memory estimate reads before loading: model_index.json and each
part's config.json, from the full-size architectures of meta_models. `traced_peak` runs a module
on `meta` and records the bytes of every tensor storage the forward creates, freed when torch
frees it: the peak of the eager code's own tensor lifetimes (no allocator, no workspaces).
Attention runs as the memory-efficient kernels do on CUDA: its output only, no N x N scores.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


def _config_dict(module: Any) -> dict[str, Any]:
    config = module.config
    return dict(config) if not hasattr(config, "to_dict") else config.to_dict()


def config_folder(folder: Path, pipeline: str, parts: dict[str, Any]) -> Path:
    """A diffusers folder holding only model_index.json and each part's config.json."""
    index: dict[str, Any] = {"_class_name": pipeline}
    for name, module in parts.items():
        library = "transformers" if type(module).__module__.startswith("transformers") else "diffusers"
        index[name] = [library, type(module).__name__]
        (folder / name).mkdir(parents=True)
        (folder / name / "config.json").write_text(json.dumps(_config_dict(module), default=list), encoding="utf-8")
    (folder / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    return folder


def model_folder(folder: Path, module: Any) -> Path:
    """A folder holding one model's config.json (a ControlNet's, a depth model's)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(_config_dict(module), default=list), encoding="utf-8")
    return folder


class _LivePeak(TorchDispatchMode):
    def __init__(self, known: set[int]) -> None:
        super().__init__()
        self.known = known
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.peak = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for value in tree_flatten(out)[0]:
            if isinstance(value, torch.Tensor):
                storage = value.untyped_storage()
                ref = StorageWeakRef(storage)
                if ref.cdata not in self.live and ref.cdata not in self.known:
                    self.live[ref.cdata] = (ref, storage.nbytes())
        for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            del self.live[key]
        self.peak = max(self.peak, sum(n for _, n in self.live.values()))
        return out


@contextmanager
def _efficient_attention() -> Iterator[None]:
    """SDPA as flash / memory-efficient attention allocates it: the output alone."""
    import diffusers.models.attention_processor as processors

    original = F.scaled_dot_product_attention

    def output_only(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *_: Any, **__: Any) -> torch.Tensor:
        return query.new_empty(*query.shape[:-1], value.shape[-1])

    processors.F.scaled_dot_product_attention = output_only  # type: ignore[attr-defined]
    try:
        yield
    finally:
        processors.F.scaled_dot_product_attention = original  # type: ignore[attr-defined]


def traced_peak(module: Any, call: Callable[[], Any]) -> int:
    """Peak bytes of the tensors `call` creates (the module's parameters and buffers not counted)."""
    known = {StorageWeakRef(t.untyped_storage()).cdata for t in [*module.parameters(), *module.buffers()]}
    mode = _LivePeak(known)
    with torch.no_grad(), _efficient_attention(), mode:
        call()
    return mode.peak
