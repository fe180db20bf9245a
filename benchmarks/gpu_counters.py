"""Counters that tell whether a timed run took the path it claims: gpu_loop.py reads them per mode.

Each counter is zero on a good run, and a timing with any of them non-zero is not to be trusted:
- non_finite: frames the engine held back for a NaN or infinite pixel (the next frame then starts
  from the last good one, or from nothing: a different, cheaper path);
- recompiles, graph_breaks: Dynamo compiled again, or split a graph (a slower path, and a stall);
- cudagraph_skips: inductor ran a compiled call without its CUDA graph (one launch per kernel again);
- host_syncs: the host waited on the device inside a frame, counted in a pass of its own (the
  one wait a frame is meant to have, the publish's, is counted apart as publish_waits).
"""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

COUNTERS = ("non_finite", "recompiles", "graph_breaks", "cudagraph_skips", "host_syncs")
_SYNC_WARNING = "synchroniz"  # "called a synchronizing CUDA operation"


def dynamo_counts() -> dict[str, int]:
    """Dynamo's and inductor's running totals (process-wide; take differences around a block)."""
    import torch._dynamo.utils

    counters = torch._dynamo.utils.counters
    return {
        # Frames Dynamo compiled (a cache miss: a first call, a recompile, or the code after a graph break).
        "frames": counters["frames"]["total"],
        "graph_breaks": sum(counters["graph_break"].values()),
        "cudagraph_skips": sum(v for k, v in counters["inductor"].items() if k.startswith("cudagraph_skips")),
        "unique_graphs": counters["stats"]["unique_graphs"],
    }


@dataclass
class DynamoWindow:
    """What Dynamo and inductor did inside a block.

    Graph breaks and CUDA-graph skips are counted when a graph is compiled, so gpu_loop.py reads them
    over a mode's whole life (its compile and warm-up included), and recompiles over its timed frames.
    """

    recompiles: int = 0
    graph_breaks: int = 0
    cudagraph_skips: int = 0


@contextmanager
def dynamo_window() -> Iterator[DynamoWindow]:
    """Counts compilations, graph breaks and CUDA-graph skips inside the block (all should be zero)."""
    before = dynamo_counts()
    window = DynamoWindow()
    try:
        yield window
    finally:
        after = dynamo_counts()
        window.recompiles = after["frames"] - before["frames"]
        window.graph_breaks = after["graph_breaks"] - before["graph_breaks"]
        window.cudagraph_skips = after["cudagraph_skips"] - before["cudagraph_skips"]


@dataclass
class SyncCount:
    host_syncs: int = 0
    publish_waits: int = 0
    where: list[str] = field(default_factory=list)


_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "numpy")


@contextmanager
def host_syncs_counted(device: torch.device, publish_buffers: Callable[[], list[torch.Tensor]]) -> Iterator[SyncCount]:
    """Count the host's waits on the device inside the block.

    On CUDA: torch's own sync debug mode at "warn", each warning one sync (the publish's
    `Event.synchronize` is not one it flags, so `publish_waits` stays 0 there). Elsewhere, where
    the device is the host and nothing waits: every read of a tensor's value into Python
    (`.item()`, `bool(t)`, `.tolist()`, `.numpy()`, …) is counted, those of the publisher's host
    buffers (`publish_buffers()`) as publish waits, the rest as host syncs, since each would be a
    wait on a GPU.
    """
    found = SyncCount()
    if device.type == "cuda":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                yield found
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = [w for w in caught if _SYNC_WARNING in str(w.message)]
        found.host_syncs = len(syncs)
        found.where = sorted({f"{w.filename}:{w.lineno}" for w in syncs})
        return
    originals: dict[str, Any] = {name: getattr(torch.Tensor, name) for name in _READS}

    def counted(name: str) -> Callable[..., Any]:
        original = originals[name]

        def read(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            storage = tensor.untyped_storage().data_ptr() if tensor.device.type != "meta" else -1
            if any(storage == b.untyped_storage().data_ptr() for b in publish_buffers()):
                found.publish_waits += 1
            else:
                found.host_syncs += 1
                caller = traceback.extract_stack(limit=2)[0]  # the frame that read the value
                found.where.append(f"Tensor.{name} at {caller.filename}:{caller.lineno}")
            return original(tensor, *args, **kwargs)

        return read

    for name in _READS:
        setattr(torch.Tensor, name, counted(name))
    try:
        yield found
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def relative_error(candidate: torch.Tensor, reference: torch.Tensor) -> float:
    """‖candidate − reference‖ / ‖reference‖ in float32 (inf when either is not finite)."""
    a, b = candidate.detach().float().cpu(), reference.detach().float().cpu()
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return float("inf")
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def failures(counters: dict[str, int]) -> list[str]:
    """The names of the counters that are not zero."""
    return [name for name in COUNTERS if counters.get(name, 0)]
