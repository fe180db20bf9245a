"""The "jit" compile mode: torch.compile with the settings that suit a live loop on each device,
and how "auto" picks between jit and aot."""

from __future__ import annotations

from typing import Any

import torch

from vj.config import COMPILE_MODES


def compile_settings(device: torch.device) -> dict[str, Any]:
    """torch.compile arguments for a live loop's static shapes on this device."""
    if device.type == "cuda":
        return {"mode": "reduce-overhead"}  # CUDA graphs: one replay per call instead of hundreds of launches
    if device.type == "cpu":
        # No CUDA graphs on a CPU: the C++ wrapper drops the per-kernel Python calls, and freezing
        # treats the weights as constants (nothing swaps them mid-show).
        return {"options": {"cpp_wrapper": True, "freezing": True}}
    return {"mode": "default"}


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
