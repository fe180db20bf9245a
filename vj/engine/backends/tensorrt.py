"""The TensorRT backend: the three per-frame calls run as prebuilt engines, the rest in PyTorch.

The text encoder, schedule, guidance embedding and prompt handling are the PyTorch
backend's (it is subclassed); only image → latents, the UNet and latents → image are
replaced. Each engine's I/O tensors are allocated once, as torch tensors, and bound by name
(TensorRT 10's tensor API); a call copies its inputs into them and replays a CUDA graph of
`execute_async_v3` on torch's current stream, so a frame adds no allocation and no sync.

Engines are built offline (`vj build-engines`) and checked against their manifest when the
size is prepared: a stale or missing engine is `StaleEngine`, naming the command that
builds it. There is no fallback to PyTorch. A LoRA scale change re-fuses the weights in
the PyTorch UNet, kept on the GPU when LoRAs are loaded (else on the CPU, to spare the memory),
and refits the adapted layers' weights into the engine from device memory on the compute stream,
then captures the engine's CUDA graph again (TensorRT does not promise a refitted engine keeps its
weights where the old graph reads them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vj.config import ModelConfig
from vj.engine.backends.base import Variant, WarmupProgress
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.compile.engine_cache import (
    DECODE,
    ENCODE,
    UNET,
    EngineFolder,
    EngineKey,
    StaleEngine,
    build_command,
    check_manifest,
    default_engine_dir,
    manifest_batches,
)
from vj.engine.compile.onnx_export import REFIT_MAP
from vj.errors import BackendUnavailable

log = logging.getLogger(__name__)

# str(trt.DataType.X) names, lower-cased: "float", "half", "bf16", "int64", "int32".
_DTYPES = {"float": torch.float32, "float32": torch.float32, "float16": torch.float16, "half": torch.float16,
           "bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32}
_TRT_DTYPES = {torch.float32: "FLOAT", torch.float16: "HALF", torch.bfloat16: "BF16"}


@dataclass(frozen=True, slots=True)
class Binding:
    name: str
    is_input: bool
    shape: tuple[int, ...]
    dtype: torch.dtype


def binding_plan(signature: Mapping[str, tuple[str, tuple[int, ...], str]],
                 input_order: Sequence[str]) -> list[Binding]:
    """Bindings in call order (inputs as the caller passes them, then outputs) from
    name → (mode, shape, element type), as read from an engine or its ONNX graph.

    Refuses what a static, preallocated binding cannot serve: a dynamic dimension, an
    unknown element type, or inputs that differ from what the caller passes.
    """
    inputs = [n for n, (mode, _, _) in signature.items() if mode == "input"]
    if sorted(inputs) != sorted(input_order):
        raise StaleEngine(f"engine inputs {sorted(inputs)} are not the call's {sorted(input_order)}: "
                          "rebuild it with `vj build-engines`")
    plan = []
    for name in [*input_order, *(n for n, (mode, _, _) in signature.items() if mode == "output")]:
        mode, shape, kind = signature[name]
        if any(d <= 0 for d in shape):
            raise StaleEngine(f"engine tensor {name!r} has a dynamic shape {shape}; vj builds static shapes")
        if kind not in _DTYPES:
            raise StaleEngine(f"engine tensor {name!r} has element type {kind!r}, which vj cannot bind")
        plan.append(Binding(name, mode == "input", tuple(shape), _DTYPES[kind]))
    return plan


def _engine_signature(trt: Any, engine: Any) -> dict[str, tuple[str, tuple[int, ...], str]]:
    found = {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        mode = "input" if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else "output"
        kind = str(engine.get_tensor_dtype(name)).rsplit(".", 1)[-1].lower()
        found[name] = (mode, tuple(engine.get_tensor_shape(name)), kind)
    return found


class EngineCall:
    """One engine with its I/O bound to preallocated torch tensors; called like the module it replaces."""

    def __init__(self, trt: Any, runtime: Any, path: Path, input_order: Sequence[str], device: torch.device) -> None:
        self.path = path
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise StaleEngine(f"TensorRT cannot load {path} (built by another TensorRT version?); rebuild it with "
                              "`vj build-engines`")
        self.context = self.engine.create_execution_context()
        self.plan = binding_plan(_engine_signature(trt, self.engine), input_order)
        self.buffers = {b.name: torch.empty(b.shape, dtype=b.dtype, device=device) for b in self.plan}
        for b in self.plan:
            if b.is_input:
                self.context.set_input_shape(b.name, b.shape)
            self.context.set_tensor_address(b.name, self.buffers[b.name].data_ptr())
        self._inputs = [self.buffers[b.name] for b in self.plan if b.is_input]
        self._output = self.buffers[next(b.name for b in self.plan if not b.is_input)]
        self._graph: torch.cuda.CUDAGraph | None = None

    def _enqueue(self) -> None:
        if not self.context.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise RuntimeError(f"TensorRT failed to run {self.path.name}")

    def capture(self) -> None:
        """Run once (TensorRT allocates lazily), then capture the enqueue in a CUDA graph."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self._enqueue()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._enqueue()
        self._graph = graph

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        for buffer, value in zip(self._inputs, inputs, strict=True):
            buffer.copy_(value)  # a 0-d timestep broadcasts into its [1] buffer
        if self._graph is not None:
            self._graph.replay()
        else:
            self._enqueue()
        # The buffer is reused by the next call: the caller gets its own copy.
        return self._output.clone()


class Refit:
    """Writes re-fused PyTorch weights into a refittable engine, by the names the export recorded.

    The weights go from the UNet's own memory (on the GPU when LoRAs are loaded: no copy through the
    host), the refit is enqueued on the compute stream (so it never runs under a frame still on the
    GPU), and the engine's CUDA graph is captured again after it.
    """

    def __init__(self, trt: Any, call: EngineCall, unet: torch.nn.Module, names_path: Path,
                 stream: Callable[[], int] | None = None) -> None:
        if not names_path.is_file():
            raise StaleEngine(f"{names_path} is missing: the LoRA UNet engine cannot be refitted; rebuild it with "
                              "`vj build-engines`")
        self.trt, self.call, self.unet = trt, call, unet
        self.names: dict[str, list[Any]] = json.loads(names_path.read_text(encoding="utf-8"))
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._stream = stream or (lambda: torch.cuda.current_stream().cuda_stream)
        self._keep: list[torch.Tensor] = []  # read by the refit on the stream: alive until the next one

    def __call__(self) -> None:
        trt = self.trt
        refitter = trt.Refitter(self.call.engine, self._logger)
        params = dict(self.unet.named_parameters())
        keep = []
        for onnx_name, (param, transposed) in self.names.items():
            weight = params[param].detach()
            # In the dtype the graph was exported in (the UNet's own), as the engine's weights are.
            tensor = (weight.T if transposed else weight).contiguous()
            keep.append(tensor)
            where = trt.TensorLocation.DEVICE if tensor.is_cuda else trt.TensorLocation.HOST
            weights = trt.Weights(getattr(trt.DataType, _TRT_DTYPES[tensor.dtype]), tensor.data_ptr(), tensor.numel())
            refitter.set_named_weights(onnx_name, weights, where)
        missing = list(refitter.get_missing_weights())
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise StaleEngine(f"TensorRT cannot refit {self.call.path.name}: it needs weights the LoRA map does not "
                              f"name ({shown}; layers TensorRT fused when it built the engine); rebuild it with "
                              "`vj build-engines`")
        if not refitter.refit_cuda_engine_async(self._stream()):
            raise RuntimeError(f"TensorRT refit of {self.call.path.name} failed")
        self._keep = keep
        self.call.capture()


class TensorRTBackend(DiffusersBackend):
    """The PyTorch backend with its three per-frame calls run by TensorRT engines."""

    def __init__(self, pipe: Any, *, cache_dir: Path, preset: str, **kwargs: Any) -> None:
        from vj.engine.compile.onnx_export import backend_fingerprint
        from vj.engine.compile.trt_build import current_target

        trt = _import_tensorrt()
        super().__init__(pipe, **kwargs)
        if self.device.type != "cuda":
            raise BackendUnavailable(f"the tensorrt backend needs a CUDA device, found {self.device}")
        self._trt, self._runtime = trt, trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._cache_dir, self._preset = cache_dir, preset
        self._fingerprint = backend_fingerprint(self)
        self._target = current_target(trt)
        self._calls: dict[tuple[str, tuple[int, ...]], EngineCall] = {}
        self._refits: list[Refit] = []
        # Only the text encoder runs in PyTorch on the GPU. The UNet stays there only when LoRAs may
        # be refitted (a re-fuse and a refit from device memory: no stall of seconds through the CPU).
        self.unet.to(unet_home(self.device, refittable=self.loras is not None))
        self.vae.to("cpu")
        self._encode_call = self._engine_for(ENCODE)
        self._decode_call = self._engine_for(DECODE)
        self._predict_call = self._engine_for(UNET)

    def _engine_for(self, call: str) -> Any:
        def run(*inputs: torch.Tensor) -> torch.Tensor:
            engine = self._calls.get((call, tuple(inputs[0].shape)))
            if engine is None:
                raise StaleEngine(f"no {call} engine was prepared for input shape {tuple(inputs[0].shape)}: "
                                  "list the size and batch in the warm-up, and build it with `vj build-engines`")
            return engine(*inputs)
        return run

    def warmup(self, variants: Sequence[Variant], progress: WarmupProgress | None = None) -> None:
        """Engines for every size and batch the show may use, checked and captured, then each run once."""
        by_size: dict[tuple[int, int], set[int]] = {}
        for v in variants:
            by_size.setdefault((v.width, v.height), set()).add(v.batch)
        for (width, height), batches in sorted(by_size.items()):
            self.prepare(width, height, batches)
        super().warmup(variants, progress)

    def check_resolution(self, width: int, height: int) -> None:
        """The size rule, then the engines for this size: loaded, checked and captured before frame 0."""
        super().check_resolution(width, height)
        self.prepare(width, height)

    def prepare(self, width: int, height: int, batches: Iterable[int] | None = None) -> None:
        """Load, check and capture every engine a show at this size needs (None: every UNet batch built)."""
        folder = EngineFolder(self._cache_dir, self._fingerprint, width, height)
        if batches is None:
            batches = manifest_batches(folder.engine_dir(self._target)) or [1]
        wanted = sorted(set(batches))
        key = EngineKey(model=self._fingerprint, width=width, height=height, batches=tuple(wanted),
                        target=self._target, refittable=self.loras is not None)
        where = folder.engine_dir(key.target)
        needed = {ENCODE: folder.engine(key.target, ENCODE), DECODE: folder.engine(key.target, DECODE)}
        needed |= {f"{UNET} batch {b}": folder.engine(key.target, UNET, b) for b in wanted}
        check_manifest(where, key, needed=needed, rebuild=build_command(self._preset, width, height, wanted))
        unet_inputs = ["sample", "timestep", "context", *self.family.extra_input_names,
                       *(["timestep_cond"] if self._time_cond_dim else [])]
        loaded = [(ENCODE, self._load(needed[ENCODE], ["image"])), (DECODE, self._load(needed[DECODE], ["latents"]))]
        for b in wanted:
            unet = self._load(needed[f"{UNET} batch {b}"], unet_inputs)
            loaded.append((UNET, unet))
            if self.loras is not None and all(r.call is not unet for r in self._refits):
                names = folder.onnx(UNET, b).with_name(f"{UNET}-b{b}.{REFIT_MAP}")
                self._refits.append(Refit(self._trt, unet, self.unet, names))
        for call, engine in loaded:  # keyed by the first input's shape: one engine per size and batch
            self._calls[(call, engine.plan[0].shape)] = engine

    def _load(self, path: Path, inputs: Sequence[str]) -> EngineCall:
        known = next((c for c in self._calls.values() if c.path == path), None)
        if known is not None:  # check_resolution and warm-up both prepare: load each engine once
            return known
        call = EngineCall(self._trt, self._runtime, path, inputs, self.device)
        call.capture()
        log.info("TensorRT engine %s loaded and captured", path)
        return call

    def set_lora_scale(self, index: int, scale: float) -> None:
        if self.loras is None:
            raise ValueError(f"{self.name}: no LoRA is loaded")
        self.loras.set_scale(index, scale)
        for refit in self._refits:  # on the compute stream, at a frame boundary; each graph captured again
            refit()

    def close(self) -> None:
        self._calls.clear()
        super().close()


def unet_home(device: torch.device, *, refittable: bool) -> torch.device:
    """Where the PyTorch UNet lives beside its engines: the GPU when LoRA scales refit them, else the CPU."""
    return device if refittable else torch.device("cpu")


def load_tensorrt_backend(config: ModelConfig) -> TensorRTBackend:
    """The `tensorrt` backend: TensorRT checked first (before any weights load), then the model."""
    from vj.engine.backends.loading import load_diffusers_backend

    _import_tensorrt()
    backend = load_diffusers_backend(config, TensorRTBackend, cache_dir=default_engine_dir(), preset="PRESET")
    assert isinstance(backend, TensorRTBackend)
    return backend


def _import_tensorrt() -> Any:
    from vj.engine.compile.trt_build import import_tensorrt, tensorrt_major

    trt = import_tensorrt()
    if trt is None:
        raise BackendUnavailable("backend 'tensorrt' needs TensorRT 10 or newer, which is not installed (pip install "
                                 "tensorrt, which fetches NVIDIA's libraries); or use backend = 'diffusers'")
    if tensorrt_major(trt) < 10:
        raise BackendUnavailable(f"TensorRT {trt.__version__} is too old: vj uses the tensor API of TensorRT 10+")
    return trt
