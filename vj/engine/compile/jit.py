"""The "jit" compile mode: torch.compile with the settings that suit a live loop on each device,
the canonical inputs that keep one graph per shape, and how "auto" picks between jit and aot."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import torch

from vj.config import COMPILE_MODES

log = logging.getLogger(__name__)


def compile_settings(device: torch.device) -> dict[str, Any]:
    """torch.compile arguments for a live loop's static shapes on this device."""
    if device.type == "cuda":
        # CUDA graphs: one replay per call instead of hundreds of launches. dynamic=False: each warmed
        # shape (a size, CFG's batch 2) gets a static graph of its own, never one symbolic-shape graph.
        return {"mode": "reduce-overhead", "dynamic": False}
    if device.type == "cpu":
        # No CUDA graphs on a CPU: the C++ wrapper drops the per-kernel Python calls, and freezing
        # treats the weights as constants (nothing swaps them mid-show).
        return {"options": {"cpp_wrapper": True, "freezing": True}}
    return {"mode": "default"}


_Input = TypeVar("_Input")


def _contiguous_strides(shape: torch.Size) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def graph_input(value: _Input) -> _Input:
    """A tensor (or a tuple of them) as every compiled call gets it: contiguous, an inference tensor.

    Dynamo guards each tensor input on its exact strides (size-1 dimensions too) and its
    dispatch keys (made in inference mode or not), not only its shape and dtype. The show hands
    one call tensors of many layouts: a batch expanded from one row, an edge or depth picture
    expanded from one channel, a camera picture permuted from HWC, pure noise, an encoder's
    channels-last output. Each would be a graph the warm-up never compiled; a copy of the odd
    ones (small next to the call) keys every graph by shape and dtype alone, as warm-up plans.
    """
    if isinstance(value, torch.Tensor):
        if (value.is_inference() and value.stride() == _contiguous_strides(value.shape)
                and value.storage_offset() == 0):
            return value
        return value.clone(memory_format=torch.contiguous_format)  # type: ignore[return-value]
    if isinstance(value, tuple):
        return tuple(graph_input(v) for v in value)  # type: ignore[return-value]
    return value


class JitCompiled:
    """`torch.compile(module)` for this device, called under inference mode with canonical inputs."""

    def __init__(self, module: torch.nn.Module, device: torch.device) -> None:
        self.module = module
        self._compiled = torch.compile(module, **compile_settings(device))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with torch.inference_mode():  # a copy made outside it would not be an inference tensor
            return self._compiled(*(graph_input(a) for a in args),
                                  **{name: graph_input(v) for name, v in kwargs.items()})


# Graphs a compiled call may add beyond the warm-up's (a size the plan did not list) before Dynamo
# gives up on it.
SPARE_GRAPHS = 4


def graphs_needed(shapes: set[tuple[int, int, int]], units: int) -> int:
    """Graphs per compiled call for these (width, height, batch) shapes: the ControlNet units share
    their forward's graphs (their weights are its inputs), one set per unit at the most."""
    return len(shapes) * max(units, 1)


def allow_graphs(count: int) -> None:
    """Let every compiled call keep `count` graphs, one per size × batch × unit the warm-up runs.

    Past Dynamo's recompile limit (8) a call stops compiling and runs eager for good, which on
    stage is a show that silently drops to a fraction of its frame rate; a show that warms up
    more sizes than that raises the limit instead.
    """
    config = torch._dynamo.config
    wanted = count + SPARE_GRAPHS
    if config.recompile_limit < wanted:
        log.info("jit: room for %d graphs per compiled call (Dynamo's limit was %d)", wanted, config.recompile_limit)
        config.recompile_limit = wanted
        config.accumulated_recompile_limit = max(config.accumulated_recompile_limit, 8 * wanted)


def resolve_compile_mode(mode: str, device: torch.device) -> str:
    """"auto" → CUDA graphs through torch.compile on a GPU, AOTInductor packages elsewhere.

    On a GPU the per-call launch cost is what CUDA graphs remove; on a CPU there are no
    CUDA graphs, and the measured winner is AOTInductor (no guards, no Python per kernel).
    """
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode must be one of {', '.join(COMPILE_MODES)}; found {mode!r}")
    if mode == "auto":
        return "jit" if device.type == "cuda" else "aot"
    return mode
