"""`vj build-engines` on the tiny model: the ONNX half runs without TensorRT, matches
PyTorch through onnxruntime on the CPU, and the command fails in one line naming TensorRT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vj.cli.main import main
from vj.config import LoraConfig, ModelConfig
from vj.engine.backends import load_backend
from vj.engine.backends.diffusers import ImageEncoder, LatentDecoder
from vj.engine.compile.engine_cache import DECODE, ENCODE, UNET, EngineFolder
from vj.engine.compile.onnx_export import (
    backend_fingerprint,
    call_exports,
    export_onnx,
    io_signature,
    refit_map,
)
from vj.engine.compile.trt_build import import_tensorrt
from vj.engine.families.sd import NoisePredictor

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

PRESET = str(Path(__file__).parents[3] / "presets" / "drift.toml")


def _run(path: Path, inputs: dict[str, torch.Tensor]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]


@pytest.mark.skipif(import_tensorrt() is not None, reason="checks the run without TensorRT")
@pytest.mark.timeout(900)
def test_build_engines_exports_onnx_matching_pytorch_then_says_tensorrt_is_missing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["build-engines", PRESET, "--model", "tiny", "--device", "cpu", "--dtype", "float32",
                   "--sizes", "64x64", "--batch", "2", "--cache-dir", str(tmp_path)])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert status == 2 and len(errors) == 1 and "TensorRT is not installed" in errors[0]
    assert "pip install tensorrt" in errors[0] and "Traceback" not in captured.err
    backend = load_backend(ModelConfig(source="tiny", device="cpu", dtype="float32"))
    folder = EngineFolder(tmp_path, backend_fingerprint(backend), 64, 64)
    assert not list(folder.size_dir.glob("trt*")), "no engine folder without TensorRT"
    torch.manual_seed(3)
    image = torch.rand(1, 3, 64, 64)
    latents = torch.randn(1, 4, 8, 8)
    unet_in = {"sample": torch.randn(2, 4, 8, 8), "timestep": torch.tensor([741.0]),
               "context": torch.randn(2, 77, 32)}
    with torch.no_grad():
        expected = {
            ENCODE: ImageEncoder(backend.vae, tiny=False, scaling_factor=backend.scaling_factor)(image),
            DECODE: LatentDecoder(backend.vae, scaling_factor=backend.scaling_factor)(latents),
            UNET: NoisePredictor(backend.unet)(*unet_in.values()),
        }
    got = {ENCODE: _run(folder.onnx(ENCODE), {"image": image}),
           DECODE: _run(folder.onnx(DECODE), {"latents": latents}),
           UNET: _run(folder.onnx(UNET, 2), unet_in)}
    for call, value in got.items():
        np.testing.assert_allclose(value, expected[call].numpy(), atol=1e-4, rtol=1e-3, err_msg=call)
    signature = io_signature(folder.onnx(UNET, 2))
    assert signature["sample"] == ("input", (2, 4, 8, 8), "float")
    assert signature["noise"] == ("output", (2, 4, 8, 8), "float")


@pytest.mark.timeout(900)
def test_lora_unet_export_records_the_weights_a_scale_change_refits(tmp_path: Path, lora_file: Path) -> None:
    backend = load_backend(ModelConfig(source="tiny", device="cpu", dtype="float32",
                                       loras=(LoraConfig(source=str(lora_file), scale=0.5),)))
    before = backend_fingerprint(backend)
    backend.set_lora_scale(0, 1.5)
    assert backend_fingerprint(backend) == before, "a LoRA scale is live: not part of the engine identity"
    unet = next(e for e in call_exports(backend, 64, 64, [1]) if e.call == UNET)
    path = export_onnx(unet, tmp_path / "unet-b1.onnx")
    names = refit_map(path, unet.module)
    adapted = {n for n, _ in unet.module.named_parameters() if "base_layer" in n}
    assert adapted and {param for param, _ in names.values()} == adapted
    assert json.loads(json.dumps(names)) == names
    with torch.no_grad():
        out = NoisePredictor(backend.unet)(*unet.inputs.values())
    np.testing.assert_allclose(_run(path, dict(unet.inputs)), out.numpy(), atol=1e-4, rtol=1e-3)
