"""The logic of the GPU guards (tests/gpu/guards.py), on the CPU: a sync raised inside a frame fails
the check and names the frame, the debug mode is always put back, a recompile is reported."""

from __future__ import annotations

import pytest
import torch

from tests.gpu.guards import OutputRecorder, assert_no_recompiles, frames_without_host_sync

# What torch raises under set_sync_debug_mode("error") when an op synchronises.
SYNC_ERROR = "called a synchronizing CUDA operation"


class _Modes:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, mode: str) -> None:
        self.calls.append(mode)


def test_a_sync_in_a_frame_fails_naming_the_frame_and_restores_the_mode() -> None:
    modes, count = _Modes(), [0]

    def render() -> None:
        count[0] += 1
        if count[0] == 3:
            raise RuntimeError(SYNC_ERROR)

    with pytest.raises(AssertionError, match="frame 2 synchronised with the host"):
        frames_without_host_sync(render, frames=5, set_mode=modes)
    assert modes.calls == ["error", "default"]


def test_frames_without_a_sync_pass() -> None:
    modes = _Modes()
    frames_without_host_sync(lambda: torch.ones(3) * 2, frames=5, set_mode=modes)
    assert modes.calls == ["error", "default"]


def test_another_error_is_not_called_a_sync() -> None:
    modes = _Modes()

    def render() -> None:
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        frames_without_host_sync(render, frames=2, set_mode=modes)
    assert modes.calls == ["error", "default"]


def test_a_recompile_during_the_sweep_is_reported() -> None:
    import torch._dynamo

    torch._dynamo.reset()
    double = torch.compile(lambda x: x * 2 + 1, backend="eager")
    double(torch.ones(3))
    assert_no_recompiles(lambda: [double(torch.full((3,), float(v))) for v in range(4)])
    with pytest.raises(AssertionError, match=r"(?s)recompiled during the sweep:\n.*size mismatch"):
        assert_no_recompiles(lambda: double(torch.ones(4)))


def test_non_finite_outputs_are_named() -> None:
    class Backend:
        device = torch.device("cpu")

        def decode(self, latents: torch.Tensor) -> torch.Tensor:
            return latents / 0  # 0/0 is NaN

        def predict_noise(self, latents: torch.Tensor, t: int, cond: object) -> torch.Tensor:
            return latents

    recorder = OutputRecorder(Backend())
    recorder.predict_noise(torch.ones(2), 999, None)
    recorder.decode(torch.zeros(2))
    assert recorder.device.type == "cpu"
    assert recorder.non_finite() == ["decode"]
