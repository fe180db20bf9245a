"""The TensorRT engine cache without TensorRT: keys, manifests, stale-engine refusals and the
binding plan an engine's named I/O gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vj.engine.backends.tensorrt import binding_plan
from vj.engine.compile.engine_cache import (
    DECODE,
    ENCODE,
    UNET,
    EngineFolder,
    EngineKey,
    StaleEngine,
    Target,
    build_command,
    check_manifest,
    manifest_batches,
    model_fingerprint,
    write_manifest,
)

H200 = Target(tensorrt="10.13.0", gpu="NVIDIA H200", compute_capability="9.0")


def _key(**changes: object) -> EngineKey:
    fields = dict(model=model_fingerprint(["unet", "vae"]), width=512, height=512, batches=(1, 2), target=H200,
                  refittable=False)
    return EngineKey(**{**fields, **changes})  # type: ignore[arg-type]


def _built(tmp_path: Path, key: EngineKey) -> tuple[Path, dict[str, Path]]:
    folder = EngineFolder(tmp_path, key.model, key.width, key.height)
    where = folder.engine_dir(key.target)
    engines = {ENCODE: folder.engine(key.target, ENCODE), DECODE: folder.engine(key.target, DECODE),
               **{f"unet {b}": folder.engine(key.target, UNET, b) for b in key.batches}}
    where.mkdir(parents=True)
    for path in engines.values():
        path.write_bytes(b"plan")
    write_manifest(where, key)
    return where, engines


def test_layout_separates_model_size_and_target(tmp_path: Path) -> None:
    folder = EngineFolder(tmp_path, "abc", 768, 432)
    assert folder.onnx(UNET, 2) == tmp_path / "abc" / "768x432" / "onnx" / "unet-b2.onnx"
    assert folder.onnx(ENCODE, 2).name == "encode.onnx"  # the VAE runs at batch 1 whatever the UNet's batch
    assert folder.engine(H200, DECODE).parent.name == "trt10.13.0-nvidia-h200-sm90-fp16"
    assert model_fingerprint(["a", "b"]) != model_fingerprint(["a", "b", "lora.safetensors"])


def test_matching_manifest_passes_and_a_subset_of_batches_is_enough(tmp_path: Path) -> None:
    key = _key()
    where, engines = _built(tmp_path, key)
    check_manifest(where, key, needed=engines, rebuild="vj build-engines x")
    check_manifest(where, _key(batches=(2,)), needed=engines, rebuild="vj build-engines x")
    assert manifest_batches(where) == [1, 2]
    assert json.loads((where / "manifest.json").read_text())["target"]["gpu"] == "NVIDIA H200"


@pytest.mark.parametrize(("change", "field"), [
    ({"model": "other-weights"}, "model"),
    ({"width": 768}, "width"),
    ({"target": Target("10.14.1", "NVIDIA H200", "9.0")}, "target"),
    ({"target": Target("10.13.0", "NVIDIA GeForce RTX 4090", "8.9")}, "target"),
    ({"refittable": True}, "refittable"),
])
def test_any_key_difference_is_a_stale_engine_naming_the_field_and_the_command(
        tmp_path: Path, change: dict[str, object], field: str) -> None:
    where, engines = _built(tmp_path, _key())
    rebuild = build_command("drift", 512, 512, [1, 2])
    with pytest.raises(StaleEngine) as caught:
        check_manifest(where, _key(**change), needed=engines, rebuild=rebuild)
    message = str(caught.value)
    assert f"stale: {field} is" in message and message.endswith(f"`{rebuild}`")
    assert rebuild == "vj build-engines drift --sizes 512x512 --batch 1,2"


def test_missing_manifest_engine_or_batch_is_refused(tmp_path: Path) -> None:
    key = _key(batches=(1,))
    with pytest.raises(StaleEngine, match="no TensorRT engines .* build them with `vj build-engines"):
        check_manifest(tmp_path / "nothing", key, needed={}, rebuild="vj build-engines p")
    where, engines = _built(tmp_path, key)
    with pytest.raises(StaleEngine, match=r"built for UNet batches \[1\], this run needs \[2\]"):
        check_manifest(where, _key(batches=(2,)), needed=engines, rebuild="vj build-engines p")
    engines[DECODE].unlink()
    with pytest.raises(StaleEngine, match="the decode engine .* is missing"):
        check_manifest(where, key, needed=engines, rebuild="vj build-engines p")
    (where / "manifest.json").write_text("{not json")
    with pytest.raises(StaleEngine, match="unreadable"):
        check_manifest(where, key, needed=engines, rebuild="vj build-engines p")


def test_binding_plan_orders_inputs_as_called_and_refuses_what_it_cannot_bind() -> None:
    signature = {"noise": ("output", (2, 4, 64, 64), "float16"), "context": ("input", (2, 77, 1024), "float16"),
                 "timestep": ("input", (1,), "float32"), "sample": ("input", (2, 4, 64, 64), "float16")}
    plan = binding_plan(signature, ["sample", "timestep", "context"])
    assert [(b.name, b.is_input) for b in plan] == [("sample", True), ("timestep", True), ("context", True),
                                                   ("noise", False)]
    assert plan[1].dtype == torch.float32 and plan[0].shape == (2, 4, 64, 64)
    with pytest.raises(StaleEngine, match="not the call's"):
        binding_plan(signature, ["sample", "timestep", "context", "timestep_cond"])
    with pytest.raises(StaleEngine, match="dynamic shape"):
        binding_plan({**signature, "sample": ("input", (-1, 4, 64, 64), "float16")}, ["sample", "timestep", "context"])
    with pytest.raises(StaleEngine, match="element type"):
        binding_plan({**signature, "timestep": ("input", (1,), "fp8")}, ["sample", "timestep", "context"])


@pytest.mark.tensorrt
def test_tensorrt_imports_at_version_10_or_newer() -> None:
    from vj.engine.compile.trt_build import import_tensorrt, tensorrt_major

    trt = import_tensorrt()
    assert trt is not None and tensorrt_major(trt) >= 10


def test_tensorrt_backend_without_tensorrt_is_one_clear_error_before_the_model_loads() -> None:
    from vj.config import ModelConfig
    from vj.engine.backends import load_backend
    from vj.engine.compile.trt_build import import_tensorrt
    from vj.errors import BackendUnavailable

    if import_tensorrt() is not None:
        pytest.skip("TensorRT is installed here")
    # a model that does not exist: the TensorRT check must come first, and no PyTorch fallback
    with pytest.raises(BackendUnavailable, match="needs TensorRT 10 or newer") as caught:
        load_backend(ModelConfig(source="/no/such/model", backend="tensorrt", device="cpu"))
    assert "\n" not in str(caught.value) and "backend = 'diffusers'" in str(caught.value)
