"""`--compile` on the CPU: jit (torch.compile) and aot (AOTInductor packages) render what eager renders.

Compiling takes about a minute (aot) to two or three (jit) on a 2-core CPU; these run in CI
anyway, because they are the paths the benchmark's fastest columns use and a wrong compile
setting would otherwise go unnoticed.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import CollectFrames, run_vj
from vj.config import PresetConfig
from vj.engine.backends import Variant, load_backend
from vj.engine.compile.aot import AotCompiled, weights_fingerprint
from vj.engine.compile.jit import resolve_compile_mode
from vj.session import render_offline

# A cold inductor build on two shared cores can pass the suite's 300 s default.
pytestmark = pytest.mark.timeout(900)


def _render(preset: PresetConfig, backend, frames: int = 4) -> list[np.ndarray]:  # noqa: ANN001
    out = CollectFrames()
    render_offline(preset, frames=frames, outputs=[out], backend=backend)
    return [f.image for f in out.frames]


def _assert_close(expected: list[np.ndarray], found: list[np.ndarray]) -> None:
    assert len(expected) == len(found)
    for a, b in zip(expected, found, strict=True):
        # Fused kernels reorder float sums: allow a couple of 8-bit levels, nothing more.
        diff = np.abs(a.astype(int) - b.astype(int))
        assert diff.max() <= 3 and diff.mean() < 0.5, (diff.max(), diff.mean())


@pytest.fixture(scope="module")
def aot_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("vj-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VJ_CACHE_DIR", str(root))
        yield root / "aot"


def test_auto_mode_is_cuda_graphs_on_a_gpu_and_aot_elsewhere() -> None:
    assert resolve_compile_mode("auto", torch.device("cuda")) == "jit"
    assert resolve_compile_mode("auto", torch.device("cpu")) == "aot"
    assert resolve_compile_mode("jit", torch.device("cpu")) == "jit"
    with pytest.raises(ValueError, match="one of off, auto, jit, aot"):
        resolve_compile_mode("fast", torch.device("cpu"))


def test_jit_backend_renders_what_eager_renders(tiny_backend, tiny_preset: PresetConfig) -> None:  # noqa: ANN001
    compiled = load_backend(tiny_preset.with_overrides(compile="jit").model)
    assert compiled.compile_mode == "jit"
    _assert_close(_render(tiny_preset, tiny_backend), _render(tiny_preset, compiled))


def test_aot_backend_renders_what_eager_renders_and_a_second_launch_only_loads(
        tiny_backend, tiny_preset: PresetConfig, aot_cache: Path) -> None:  # noqa: ANN001
    first = load_backend(tiny_preset.with_overrides(compile="aot").model)
    assert first.compile_mode == "aot"
    calls = (first._encode_call, first._predict_call, first._decode_call)
    first.warmup([Variant(64, 64, 1, 2)])  # the warm-up builds every package ...
    assert [c.builds for c in calls] == [1, 1, 1]
    expected = _render(tiny_preset, tiny_backend)
    _assert_close(expected, _render(tiny_preset, first))
    assert [c.builds for c in calls] == [1, 1, 1]  # ... so the show builds none
    assert len(list(aot_cache.glob("*.pt2"))) == 3

    second = load_backend(tiny_preset.with_overrides(compile="aot").model)
    _assert_close(expected, _render(tiny_preset, second))
    assert [c.builds for c in (second._encode_call, second._predict_call, second._decode_call)] == [0, 0, 0]


def test_a_damaged_package_is_reported_and_rebuilt(tiny_preset: PresetConfig, aot_cache: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    warm = load_backend(tiny_preset.with_overrides(compile="aot").model)
    _render(tiny_preset, warm, frames=2)  # the packages exist (built by the test above or now)
    decode_package = next(aot_cache.glob("decode-*.pt2"))
    decode_package.write_bytes(b"not a package")
    backend = load_backend(tiny_preset.with_overrides(compile="aot").model)
    with caplog.at_level(logging.WARNING, logger="vj.engine.compile.aot"):
        frames = _render(tiny_preset, backend, frames=2)
    assert "cannot be loaded" in caplog.text and decode_package.name in caplog.text
    assert backend._decode_call.builds == 1 and backend._encode_call.builds == 0
    assert len(frames) == 2 and decode_package.stat().st_size > 1000


class _Tilt(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * 2


def test_packages_are_keyed_by_weights_shape_and_dtype(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = _Tilt()
    call = AotCompiled(module, call="tilt", fingerprint=weights_fingerprint(module), device=torch.device("cpu"),
                       cache_dir=tmp_path)
    x = torch.zeros(1, 3, 8, 8)
    assert call.package_path((x,)) == call.package_path((torch.ones(1, 3, 8, 8),))
    assert call.package_path((x,)) != call.package_path((torch.zeros(1, 3, 16, 8),))
    assert call.package_path((x,)) != call.package_path((x.double(),))
    with torch.no_grad():
        module.conv.weight[0, 0, 0, 0] += 1e-3  # one weight moved: the old package must not be used
    assert weights_fingerprint(module) != call.fingerprint


def test_a_strided_view_is_read_as_its_values(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = _Tilt().eval()
    call = AotCompiled(module, call="tilt", fingerprint=weights_fingerprint(module), device=torch.device("cpu"),
                       cache_dir=tmp_path)
    view = torch.rand(1, 8, 8, 3).permute(0, 3, 1, 2)  # [1, 3, 8, 8] with channels-last strides
    with torch.no_grad():
        assert torch.allclose(call(view.contiguous()), module(view), atol=1e-5)  # built for contiguous input
        assert torch.allclose(call(view), module(view), atol=1e-5)


def test_cli_renders_with_aot_packages_and_refuses_an_unknown_mode(tmp_path: Path, aot_cache: Path) -> None:
    import av

    def vj(*args: str) -> subprocess.CompletedProcess[str]:
        return run_vj(*args, env={"VJ_CACHE_DIR": str(aot_cache.parent)}, timeout=600)

    clip = tmp_path / "clip.mp4"
    result = vj("render", "drift", "--model", "tiny", "--width", "64", "--height", "64", "--frames", "3",
                "--compile", "aot", "--out", str(clip), "--no-progress")
    assert result.returncode == 0, result.stderr
    with av.open(str(clip)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3
    wrong = vj("render", "drift", "--model", "tiny", "--compile", "fast", "--out", str(clip))
    assert wrong.returncode == 2 and "invalid choice: 'fast'" in wrong.stderr
