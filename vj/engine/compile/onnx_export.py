"""The three per-frame calls exported to ONNX at static shapes, for TensorRT to build from.

Each call is the PyTorch backend's own module (image → latents, the UNet, latents → image),
so the engine computes exactly what eager mode does. Shapes are static, one graph per frame
size and UNet batch: a static TensorRT profile is the fastest, and a show knows its sizes.

The TorchScript exporter is used, at opset 17: torch's dynamo exporter at opset 17 writes
`Split` nodes with the opset-18 `num_outputs` attribute, which onnxruntime rejects as an
invalid graph (measured with torch 2.13, onnxscript 0.7).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vj.engine.compile.engine_cache import DECODE, ENCODE, UNET, call_name

log = logging.getLogger(__name__)

OPSET = 17
_INSTALL_ONNX = "ONNX export needs the onnx and onnxscript packages: pip install -e .[onnx]"


@dataclass(frozen=True, slots=True)
class CallExport:
    """One call to export: its module, named example inputs (the static shapes) and output names."""

    call: str
    batch: int
    module: torch.nn.Module
    inputs: Mapping[str, torch.Tensor]
    outputs: tuple[str, ...]

    @property
    def name(self) -> str:
        return call_name(self.call, self.batch)


def unet_inputs(backend: Any, width: int, height: int, batch: int) -> dict[str, torch.Tensor]:
    """The UNet's named inputs at one size and batch, in the backend's dtype, on its device."""
    f = backend.vae_scale_factor
    dev, dt = backend.device, backend.dtype
    tokens = int(backend.tokenizer.model_max_length)
    context_dim = int(backend.unet.config.cross_attention_dim)
    inputs = {
        "sample": torch.randn(batch, backend.latent_channels, height // f, width // f, device=dev, dtype=dt),
        "timestep": torch.tensor([500.0], device=dev),
        "context": torch.randn(batch, tokens, context_dim, device=dev, dtype=dt),
    }
    inputs |= backend.family.example_extra_inputs(backend.text_encoders, width, height, batch, dev, dt)
    time_cond = backend.unet.config.get("time_cond_proj_dim")
    if time_cond is not None:  # an LCM-distilled UNet's guidance embedding
        inputs["timestep_cond"] = torch.randn(batch, int(time_cond), device=dev, dtype=dt)
    return inputs


def call_exports(backend: Any, width: int, height: int, batches: Sequence[int]) -> list[CallExport]:
    """The exports one frame size needs: encoder and decoder at batch 1, the UNet at each batch."""
    from vj.engine.backends.diffusers import ImageEncoder, LatentDecoder

    f = backend.vae_scale_factor
    dev, dt = backend.device, backend.dtype
    image = torch.rand(1, 3, height, width, device=dev, dtype=dt)
    latents = torch.randn(1, backend.latent_channels, height // f, width // f, device=dev, dtype=dt)
    encoder = ImageEncoder(backend.vae, tiny=backend.tiny_vae, scaling_factor=backend.scaling_factor).eval()
    decoder = LatentDecoder(backend.vae, scaling_factor=backend.scaling_factor).eval()
    predictor = backend.family.noise_predictor(backend.unet).eval()
    exports = [CallExport(ENCODE, 1, encoder, {"image": image}, ("latents",)),
               CallExport(DECODE, 1, decoder, {"latents": latents}, ("image",))]
    exports += [CallExport(UNET, b, predictor, unet_inputs(backend, width, height, b), ("noise",))
                for b in sorted(set(batches))]
    return exports


def export_onnx(export: CallExport, path: Path) -> Path:
    """Write `export` to `path` (weights beside it when the graph passes protobuf's 2 GB)."""
    try:
        import onnx  # noqa: F401
    except ImportError as err:
        raise RuntimeError(_INSTALL_ONNX) from err
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # Export into a scratch folder and save into place: a large graph's exporter writes one
    # weight file per tensor beside it, and a crash mid-export never leaves a half graph.
    scratch = Path(tempfile.mkdtemp(prefix=f".{path.stem}-", dir=path.parent))
    try:
        with torch.inference_mode():
            torch.onnx.export(export.module, tuple(export.inputs.values()), str(scratch / "graph.onnx"),
                              input_names=list(export.inputs), output_names=list(export.outputs),
                              opset_version=OPSET, do_constant_folding=True, dynamo=False)
        _save_single(scratch / "graph.onnx", path, large=_weight_bytes(export.module) > _PROTOBUF_SAFE_BYTES)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("%s: exported to %s in %.1f s", export.name, path, time.perf_counter() - start)
    return path


# protobuf cannot serialise a message past 2 GiB; leave room for the graph itself.
_PROTOBUF_SAFE_BYTES = int(1.5 * 2**30)


def _weight_bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def _save_single(source: Path, path: Path, *, large: bool) -> None:
    """Rewrite the export as one .onnx (plus one `.onnx.data` weights file when it is large)."""
    import onnx

    model = onnx.load(str(source), load_external_data=True)
    for old in (path, path.with_name(f"{path.name}.data")):
        old.unlink(missing_ok=True)
    onnx.save_model(model, str(path), save_as_external_data=large, all_tensors_to_one_file=True,
                    location=f"{path.name}.data" if large else None)


def io_signature(path: Path) -> dict[str, tuple[str, tuple[int, ...], str]]:
    """name → ("input" | "output", static shape, ONNX element type) read from an exported graph."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    found: dict[str, tuple[str, tuple[int, ...], str]] = {}
    for mode, values in (("input", model.graph.input), ("output", model.graph.output)):
        for value in values:
            tensor = value.type.tensor_type
            shape = tuple(int(d.dim_value) for d in tensor.shape.dim)
            found[value.name] = (mode, shape, onnx.TensorProto.DataType.Name(tensor.elem_type).lower())
    return found


def backend_fingerprint(backend: Any) -> str:
    """The cache key's model part: UNet and VAE weights; with LoRAs, the UNet's base weights and
    the adapters' (never the fused result: a scale is live, changed by refit)."""
    from vj.engine.compile.aot import weights_fingerprint
    from vj.engine.compile.engine_cache import model_fingerprint

    loras = getattr(backend, "loras", None)
    if loras is None:
        return model_fingerprint([weights_fingerprint(backend.unet), weights_fingerprint(backend.vae)])
    return model_fingerprint([loras.identity(), weights_fingerprint(backend.vae)])


REFIT_MAP = "refit.json"


def refit_map(onnx_path: Path, module: torch.nn.Module, *, only: str = "base_layer") -> dict[str, list[Any]]:
    """ONNX initializer → [module parameter, transposed] for the parameters whose name holds `only`.

    The exporter renames weights it transposes or folds (a Linear's weight becomes a
    `onnx::MatMul_N` initializer holding its transpose), so names are matched by content:
    the fused weight of each LoRA-adapted layer is found in the graph as it is or transposed.
    These are the weights a LoRA scale change refits.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    wanted: dict[bytes, tuple[str, bool]] = {}
    for name, param in module.named_parameters():
        if only in name:
            data = param.detach().float().cpu().numpy()
            wanted[np.ascontiguousarray(data).tobytes()] = (name, False)
            if data.ndim == 2:
                wanted[np.ascontiguousarray(data.T).tobytes()] = (name, True)
    found: dict[str, list[Any]] = {}
    for init in onnx.load(str(onnx_path)).graph.initializer:
        array = numpy_helper.to_array(init).astype(np.float32)
        match = wanted.get(np.ascontiguousarray(array).tobytes())
        if match is not None:
            found[init.name] = [match[0], match[1]]
    return found
