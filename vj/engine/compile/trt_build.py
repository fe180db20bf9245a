"""TensorRT engines built from the exported ONNX graphs: fp16, static shapes, a timing cache.

TensorRT is imported lazily and only here and in the TensorRT backend: everything else
(export, cache keys, manifests) works without it. Builds are minutes for an SD UNet, so
they happen in `vj build-engines`, never in a show, with the phases logged as they run.
The timing cache (one per TensorRT version and GPU) makes later builds of the same
layers much faster.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from vj.engine.compile.engine_cache import Target

log = logging.getLogger(__name__)

TENSORRT_MISSING = ("TensorRT is not installed, so no engines were built (the ONNX export is done): install "
                    "TensorRT 10 or newer for your CUDA (pip install tensorrt, which fetches NVIDIA's libraries "
                    "from pypi.nvidia.com) and run the same command again")


def import_tensorrt() -> Any | None:
    try:
        import tensorrt
    except ImportError:
        return None
    return tensorrt


def tensorrt_major(trt: Any) -> int:
    return int(str(trt.__version__).split(".")[0])


def current_target(trt: Any, precision: str = "fp16") -> Target:
    """The TensorRT version and GPU this process would build for."""
    import torch

    major, minor = torch.cuda.get_device_capability()
    return Target(tensorrt=str(trt.__version__), gpu=torch.cuda.get_device_name(),
                  compute_capability=f"{major}.{minor}", precision=precision)


def _progress_monitor(trt: Any) -> Any:
    class LoggedProgress(trt.IProgressMonitor):  # type: ignore[misc, name-defined]
        """Logs each top-level build phase as it starts and ends (a UNet build runs for minutes)."""

        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._started: dict[str, float] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self._started[phase_name] = time.perf_counter()
            if parent_phase is None:
                log.info("  %s (%d steps)", phase_name, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # keep building

        def phase_finish(self, phase_name: str) -> None:
            began = self._started.pop(phase_name, None)
            if began is not None and not self._started:
                log.info("  %s done in %.1f s", phase_name, time.perf_counter() - began)

    return LoggedProgress()


def build_engine(trt: Any, onnx_path: Path, engine_path: Path, *, timing_cache: Path, fp16: bool = True,
                 refittable: bool = False, workspace_bytes: int | None = None) -> Path:
    """Parse `onnx_path`, build a serialized engine and write it atomically to `engine_path`."""
    if tensorrt_major(trt) < 10:
        raise RuntimeError(f"TensorRT {trt.__version__} is too old: vj needs TensorRT 10 or newer (tensor API)")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if refittable:
        config.set_flag(trt.BuilderFlag.REFIT)
    if workspace_bytes is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    config.progress_monitor = _progress_monitor(trt)
    log.info("building %s (fp16=%s, refittable=%s)", engine_path.name, fp16, refittable)
    start = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError(f"TensorRT could not build an engine from {onnx_path} (see its log above)")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(engine_path, bytes(plan))
    _write_atomically(timing_cache, bytes(config.get_timing_cache().serialize()))
    log.info("built %s in %.0f s", engine_path, time.perf_counter() - start)
    return engine_path


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def workspace_limit(free_bytes: int, reserve_bytes: int = 4 * 2**30) -> int | None:
    """Leave `reserve_bytes` for everything else; None lets TensorRT decide on a small card."""
    return free_bytes - reserve_bytes if free_bytes > 2 * reserve_bytes else None
