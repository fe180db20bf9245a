"""Compile strategies for a backend's per-frame calls.

jit: torch.compile (CUDA graphs on a GPU); aot: AOTInductor packages cached on disk.
"""
