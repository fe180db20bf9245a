"""Each of gpu_loop.py's counters turns non-zero when the property it guards is broken (on the CPU):
a NaN frame, a host read inside a frame, a recompile, a graph break, a CUDA-graph skip, a compiled
frame that differs from the eager one; and each such count is a FAIL line in the report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

from gpu_counters import dynamo_window, relative_error  # noqa: E402
from gpu_loop import time_engine  # noqa: E402
from gpu_report import ModeResult, Report  # noqa: E402


class _Broken:
    """The tiny backend with one defect switched on after its warm-up frames."""

    def __init__(self, backend: Any, defect: str) -> None:
        self._backend = backend
        self.defect = defect
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def warmup(self, *args: Any, **kwargs: Any) -> None:
        self._backend.warmup(*args, **kwargs)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        image = self._backend.decode(latents)
        if self.armed and self.defect == "nan":
            image = image.clone()
            image[..., 0, 0] = float("nan")
        if self.armed and self.defect == "host read" and float(image.mean()) > 2.0:  # a host read of device data
            image = image * 1.0
        return image


def _timed(tiny_backend: Any, defect: str | None) -> ModeResult:
    backend = _Broken(tiny_backend, defect or "none")
    original = time_engine.__globals__["_engine"]

    def engine_armed_after_warmup(*args: Any, **kwargs: Any) -> Any:
        engine, store = original(*args, **kwargs)
        render = engine.render_frame
        frames = [0]

        def frame() -> Any:
            frames[0] += 1
            backend.armed = frames[0] > 2  # the warm-up's two frames are clean
            return render()

        engine.render_frame = frame
        return engine, store

    time_engine.__globals__["_engine"] = engine_armed_after_warmup
    try:
        return time_engine("eager", backend, 64, 1, warmup=2, frames=3, runs=2, sync_frames=2)  # type: ignore[arg-type]
    finally:
        time_engine.__globals__["_engine"] = original


def test_a_clean_run_counts_nothing_and_keeps_the_publish_wait_apart(tiny_backend: Any) -> None:
    result = _timed(tiny_backend, None)
    assert result.counters == dict.fromkeys(result.counters or {"missing": 1}, 0)
    assert result.delivered == 6 and len(result.fps_runs) == 2
    assert result.publish_waits >= 2 and result.host_wait_ms is not None


def test_a_nan_frame_is_counted(tiny_backend: Any) -> None:
    result = _timed(tiny_backend, "nan")
    assert result.counters is not None and result.counters["non_finite"] > 0
    assert result.delivered < 6  # the bad frames were held back


def test_a_host_read_inside_a_frame_is_counted(tiny_backend: Any) -> None:
    result = _timed(tiny_backend, "host read")
    assert result.counters is not None and result.counters["host_syncs"] >= 2  # one per frame of the sync pass
    assert any("test_gpu_counters.py" in where for where in result.sync_where)


def test_recompiles_and_graph_breaks_are_counted() -> None:
    def double(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    def broken(x: torch.Tensor) -> torch.Tensor:
        y = x + 1
        torch._dynamo.graph_break()
        return y * 2

    compiled = torch.compile(double, backend="eager", dynamic=False)
    compiled(torch.rand(3))
    with dynamo_window() as warm:
        compiled(torch.rand(3))
    assert (warm.recompiles, warm.graph_breaks) == (0, 0)
    with dynamo_window() as reshaped:
        compiled(torch.rand(5))  # a shape the warm-up never saw
    assert reshaped.recompiles == 1
    with dynamo_window() as split:
        torch.compile(broken, backend="eager")(torch.rand(3))
    assert split.graph_breaks >= 1


def test_cudagraph_skips_are_read_from_inductors_counter() -> None:
    from torch._dynamo.utils import counters

    with dynamo_window() as window:
        counters["inductor"]["cudagraph_skips"] += 1  # as inductor counts a compiled call it runs without its graph
    assert window.cudagraph_skips == 1


def test_every_non_zero_counter_and_a_wrong_compiled_frame_are_fail_lines(tmp_path: Path) -> None:
    report = Report(out=tmp_path, smoke=True, arch="x", size=64, steps=1, machine="cpu", peak_tflops=None,
                    peak_source="-", gflop={"unet": 1.0, "taesd_encode": 1.0, "taesd_decode": 1.0,
                                            "vae_encode": 1.0, "vae_decode": 1.0})
    counters = {"non_finite": 1, "recompiles": 2, "graph_breaks": 3, "cudagraph_skips": 4, "host_syncs": 5}
    report.add(ModeResult("jit", 10, 100.0, 10.0, 11.0, {}, None, 1.0, counters=counters))
    reference = torch.rand(1, 3, 8, 8)
    assert relative_error(reference.clone(), reference) == 0.0
    report.set_jit_vs_eager(relative_error(reference + 0.1, reference))
    fails = [line for line in report.target_checks() if line.startswith("FAIL")]
    for name, count in counters.items():
        assert f"FAIL jit {name} = {count} (must be 0)" in fails
    assert any("jit vs eager" in line for line in fails)
    assert relative_error(torch.full((2,), float("nan")), reference[0, 0, 0, :2]) == float("inf")


@pytest.mark.parametrize("smoke", [True])
def test_the_naive_ratio_is_reported_not_held_to_a_target(tmp_path: Path, smoke: bool) -> None:
    report = Report(out=tmp_path, smoke=smoke, arch="x", size=64, steps=1, machine="cpu", peak_tflops=None,
                    peak_source="-", gflop={"unet": 1.0, "taesd_encode": 1.0, "taesd_decode": 1.0,
                                            "vae_encode": 1.0, "vae_decode": 1.0}, measured_tflops=1.0)
    report.add(ModeResult("naive", 10, 30.0, 33.0, 34.0, {}, None, 1.0))
    report.add(ModeResult("jit", 10, 90.0, 11.0, 12.0, {}, None, 1.0, counters=dict.fromkeys(
        ("non_finite", "recompiles", "graph_breaks", "cudagraph_skips", "host_syncs"), 0)))
    lines = report.target_checks()
    assert "INFO jit 3.0× the naive loop (measured; not a target)" in lines
    assert not any("× the naive" in line and line.startswith(("PASS", "FAIL")) for line in lines)
    assert any(line.startswith("INFO jit frame") and "the floor at the measured matmul rate" in line for line in lines)
