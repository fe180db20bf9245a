"""Checks for steady-state frames on a GPU: no host synchronisation, no recompilation, finite outputs.

Device-agnostic so their logic is tested on the CPU too (tests/unit/engine/test_gpu_guards.py);
tests/gpu applies them to the engine on CUDA.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

RECOMPILE_LOGGER = "torch._dynamo.guards.__recompiles"


def frames_without_host_sync(render: Callable[[], object], frames: int,
                             set_mode: Callable[[str], None] | None = None) -> None:
    """Run `frames` calls of `render` with CUDA's sync debug mode at "error".

    Any op that makes the host wait on the GPU (`.item()`, a blocking copy, `torch.tensor(x,
    device="cuda")` from host data, a data-dependent shape) raises inside torch; that is turned into
    an AssertionError naming the frame. The mode is put back to "default" whatever happens.
    """
    set_mode = set_mode or torch.cuda.set_sync_debug_mode
    set_mode("error")
    try:
        for index in range(frames):
            try:
                render()
            except RuntimeError as err:
                if "synchroniz" in str(err):
                    raise AssertionError(f"steady-state frame {index} synchronised with the host: {err}") from err
                raise
    finally:
        set_mode("default")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def recompiles_logged() -> Iterator[list[str]]:
    """Collect Dynamo's recompile messages (TORCH_LOGS=recompiles) and new frame compilations inside the block.

    Yields a list that, after the block, holds one line per recompile or newly compiled frame.
    """
    import torch._dynamo
    import torch._logging

    handler = _Collect()
    logger = logging.getLogger(RECOMPILE_LOGGER)
    frames_before = torch._dynamo.utils.counters["frames"]["total"]
    found: list[str] = []
    torch._logging.set_logs(recompiles=True)
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        torch._logging.set_logs()
        new_frames = torch._dynamo.utils.counters["frames"]["total"] - frames_before
        found.extend(handler.messages)
        if new_frames and not handler.messages:
            found.append(f"{new_frames} new frame(s) compiled by Dynamo (a graph break or a first call)")


def assert_no_recompiles(sweep: Callable[[], None]) -> None:
    """`sweep` (after a warm-up that saw every shape) must compile nothing."""
    with recompiles_logged() as found:
        sweep()
    assert not found, "recompiled during the sweep:\n" + "\n".join(found)


class OutputRecorder:
    """The backend with the last decoded image and model output kept, to check they are finite."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.outputs: dict[str, torch.Tensor] = {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._backend, name)
        if name in ("decode", "predict_noise"):
            return self._keeping(name, value)
        return value

    def _keeping(self, name: str, call: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        def run(*args: Any, **kwargs: Any) -> torch.Tensor:
            out = call(*args, **kwargs)
            # A copy, queued on the stream (no sync): a CUDA-graph output is overwritten by the next replay.
            self.outputs[name] = out.detach().clone()
            return out

        return run

    def non_finite(self) -> list[str]:
        """Names of kept outputs holding NaN or inf (reads them back: call after the timed frames)."""
        return [name for name, t in self.outputs.items() if not bool(torch.isfinite(t).all())]
