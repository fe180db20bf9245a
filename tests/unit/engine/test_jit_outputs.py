"""Under jit, what a compiled call returns lives in the CUDA graph's memory pool, which the next
replay overwrites: every output the backend hands out must be a copy of its own."""

from __future__ import annotations

import pytest
import torch

from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.families.models.tiny import build_tiny_pipeline, build_tiny_taesd


class _GraphPool:
    """Stands in for a compiled call: always returns the same buffer, overwritten by each call."""

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype) -> None:
        self.buffer = torch.zeros(shape, dtype=dtype)

    def __call__(self, *args: object, **kwargs: object) -> torch.Tensor:
        self.buffer.fill_(self.buffer[0, 0, 0, 0].item() + 1)  # the next replay writes over the last output
        return self.buffer


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_jit_outputs_survive_the_next_compiled_call(dtype: torch.dtype) -> None:
    backend = DiffusersBackend(build_tiny_pipeline(), name="tiny", device=torch.device("cpu"), dtype=dtype,
                               tiny_vae=build_tiny_taesd(), compile_mode="jit")
    backend._encode_call = _GraphPool((1, 4, 8, 8), backend.vae_dtype)
    backend._decode_call = _GraphPool((1, 3, 64, 64), backend.vae_dtype)
    first = backend.encode_image(torch.rand(1, 3, 64, 64))
    second = backend.encode_image(torch.rand(1, 3, 64, 64))
    assert first.dtype == backend.dtype
    assert float(first[0, 0, 0, 0]) == 1.0 and float(second[0, 0, 0, 0]) == 2.0  # the first kept its values
    image = backend.decode(torch.rand(1, 4, 8, 8))
    backend.decode(torch.rand(1, 4, 8, 8))
    assert image.dtype == torch.float32 and float(image[0, 0, 0, 0]) == 1.0
