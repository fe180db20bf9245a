"""`--compile` on the CPU: the compiled UNet and VAE (C++ wrapper, frozen weights) render the same frames.

It compiles for a minute or two on a 2-core CPU; it runs in CI anyway, because it is the path the
benchmark's fastest column uses and a wrong compile setting would otherwise go unnoticed.
"""

from __future__ import annotations

import numpy as np

from tests.helpers import CollectFrames
from vj.config import PresetConfig
from vj.engine.backends import load_backend
from vj.session import render_offline


def test_compiled_backend_renders_what_eager_renders(tiny_backend, tiny_preset: PresetConfig) -> None:  # noqa: ANN001
    compiled = load_backend(tiny_preset.with_overrides(compile=True).model)
    eager_frames, compiled_frames = CollectFrames(), CollectFrames()
    render_offline(tiny_preset, frames=4, outputs=[eager_frames], backend=tiny_backend)
    render_offline(tiny_preset, frames=4, outputs=[compiled_frames], backend=compiled)
    for a, b in zip(eager_frames.frames, compiled_frames.frames, strict=True):
        # Fused kernels reorder float sums: allow a couple of 8-bit levels, nothing more.
        diff = np.abs(a.image.astype(int) - b.image.astype(int))
        assert diff.max() <= 3 and diff.mean() < 0.5, (diff.max(), diff.mean())
