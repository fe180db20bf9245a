"""The TensorRT backend's binding and refit logic against fakes of TensorRT 10's API objects.

TensorRT cannot be installed here (no GPU, and its libraries are not on the package registry), so
these fakes stand for `trt.Refitter`, `trt.Weights` and friends with the signatures of TensorRT 10's
Python API; what runs is vj's own code: the dtype table, the order refit → re-capture, the refit
on the compute stream, the missing-weights check and where the weights come from.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from vj.engine.backends.tensorrt import Refit, binding_plan, unet_home
from vj.engine.compile.engine_cache import StaleEngine


class _Refitter:
    def __init__(self, trt: _FakeTrt, engine: object, logger: object) -> None:
        self.trt = trt
        trt.refitters.append(self)
        self.weights: dict[str, tuple[Any, str]] = {}

    def set_named_weights(self, name: str, weights: Any, location: str) -> bool:
        self.weights[name] = (weights, location)
        return True

    def get_missing_weights(self) -> list[str]:
        return [n for n in self.trt.engine_weights if n not in self.weights]

    def refit_cuda_engine(self) -> bool:  # TensorRT's synchronous refit: vj must not use it
        self.trt.log.append("refit (synchronous)")
        return True

    def refit_cuda_engine_async(self, stream: int) -> bool:
        self.trt.log.append(f"refit on stream {stream}")
        return True


class _FakeTrt:
    """TensorRT 10's names that the refit uses."""

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            self.level = level

    DataType = SimpleNamespace(FLOAT="FLOAT", HALF="HALF", BF16="BF16")
    TensorLocation = SimpleNamespace(DEVICE="DEVICE", HOST="HOST")

    def __init__(self, engine_weights: list[str]) -> None:
        self.engine_weights = engine_weights
        self.refitters: list[_Refitter] = []
        self.log: list[str] = []

    def Refitter(self, engine: object, logger: object) -> _Refitter:  # noqa: N802 - TensorRT's name
        return _Refitter(self, engine, logger)

    @staticmethod
    def Weights(dtype: str, ptr: int, count: int) -> tuple[str, int, int]:  # noqa: N802 - TensorRT's name
        return (dtype, ptr, count)


class _Call:
    def __init__(self, log: list[str]) -> None:
        self.engine, self.path, self.log = object(), Path("unet-b1.engine"), log

    def capture(self) -> None:
        self.log.append("capture")


def _refit(tmp_path: Path, engine_weights: list[str]) -> tuple[Refit, _FakeTrt, torch.nn.Sequential]:
    unet = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)).half()
    names = tmp_path / "unet-b1.refit.json"
    names.write_text(json.dumps({"w0": ["0.weight", False], "w1": ["1.weight", True]}), encoding="utf-8")
    trt = _FakeTrt(engine_weights)
    return Refit(trt, _Call(trt.log), unet, names, stream=lambda: 1234), trt, unet  # type: ignore[arg-type]


def test_bf16_engines_bind() -> None:
    plan = binding_plan({"x": ("input", (1, 4), "bf16"), "y": ("output", (1, 4), "half")}, ["x"])
    assert [b.dtype for b in plan] == [torch.bfloat16, torch.float16]


def test_a_refit_runs_on_the_compute_stream_then_captures_the_graph_again(tmp_path: Path) -> None:
    refit, trt, unet = _refit(tmp_path, ["w0", "w1"])
    refit()
    assert trt.log == ["refit on stream 1234", "capture"]  # never the synchronous refit; the old graph dropped
    weights = trt.refitters[0].weights
    (dtype, ptr, count), where = weights["w0"]
    first = unet[0]
    assert isinstance(first, torch.nn.Linear)
    assert (dtype, ptr, count, where) == ("HALF", first.weight.data_ptr(), 12, "HOST")  # its own memory
    (_, ptr1, count1), _ = weights["w1"]
    assert count1 == 6 and ptr1 in {t.data_ptr() for t in refit._keep}  # the transposed copy kept alive


def test_a_refit_that_leaves_engine_weights_unset_is_refused_by_name(tmp_path: Path) -> None:
    refit, trt, _ = _refit(tmp_path, ["w0", "w1", "fused_qkv_3", "fused_qkv_4"])
    with pytest.raises(StaleEngine, match=r"needs weights the LoRA map does not name \(fused_qkv_3, fused_qkv_4;"
                                          r".*vj build-engines"):
        refit()
    assert trt.log == []  # nothing refitted, the graph untouched


def test_the_unet_stays_on_the_gpu_only_when_loras_refit_it() -> None:
    gpu = torch.device("cuda")
    assert unet_home(gpu, refittable=True) == gpu  # a LoRA scale re-fuses and refits there: no CPU round trip
    assert unet_home(gpu, refittable=False) == torch.device("cpu")
