"""The AOT package key names the hardware and toolchain on CUDA; on a CPU it stays as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vj.engine.compile import aot
from vj.engine.compile.aot import AotCompiled, candidates_for, device_key


def _fake_gpu(monkeypatch: pytest.MonkeyPatch, name: str, capability: tuple[int, int], cuda: str, triton: str) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.version, "cuda", cuda)
    monkeypatch.setattr(aot, "_triton_version", lambda: triton)


def test_cpu_key_is_the_device_type() -> None:
    assert device_key(torch.device("cpu")) == "cpu"


def test_cuda_key_names_gpu_capability_cuda_and_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_gpu(monkeypatch, "NVIDIA H200", (9, 0), "13.0", "3.5.0")
    assert device_key(torch.device("cuda")) == "cuda|NVIDIA H200|sm90|cuda13.0|triton3.5.0"


@pytest.mark.parametrize("change", [
    ("NVIDIA RTX 4090", (8, 9), "13.0", "3.5.0"),  # another GPU
    ("NVIDIA H200", (9, 0), "12.8", "3.5.0"),  # another CUDA
    ("NVIDIA H200", (9, 0), "13.0", "3.4.0"),  # another Triton
])
def test_any_toolchain_change_misses_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               change: tuple[str, tuple[int, int], str, str]) -> None:
    call = AotCompiled(torch.nn.Identity(), call="unet", fingerprint="f", device=torch.device("cuda"),
                       cache_dir=tmp_path)
    inputs = (torch.zeros(1, 4, 8, 8),)
    _fake_gpu(monkeypatch, "NVIDIA H200", (9, 0), "13.0", "3.5.0")
    before = call.package_path(inputs)
    assert call.package_path(inputs) == before  # stable
    _fake_gpu(monkeypatch, *change)
    assert call.package_path(inputs) != before


def test_cuda_builds_one_variant_the_cpu_times_two() -> None:
    assert [label for label, _ in candidates_for(torch.device("cuda"))] == ["default"]
    assert [label for label, _ in candidates_for(torch.device("cpu"))] == ["default", "frozen"]
