"""Under `--compile jit` (torch.compile on this CPU: freezing, C++ wrapper) the feature bank, the latent
blend and the similarity skip change live without a recompile or a graph break, and the compiled frames
are the eager ones: the strength and the ring are read as device tensors, never folded into constants."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_PRESET
from tests.helpers import CollectFrames
from vj.config import PresetConfig, parse_preset
from vj.engine.backends import load_backend
from vj.session import render_offline

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

from gpu_counters import dynamo_window  # noqa: E402

pytestmark = pytest.mark.timeout(1200)  # a cold inductor build on two shared cores

# Everything moves while the compiled UNet runs: the bank strength from 0 up and down, its frames, the blend.
SCHEDULES = """
[schedules]
bank_strength = "0:(0), 2:(0.9), 5:(0.3)"
bank_frames = "0:(1), 3:(4)"
latent_blend = "0:(0), 4:(0.5)"
"""


def _preset() -> PresetConfig:
    preset = parse_preset(TINY_PRESET.replace("[params]", SCHEDULES + "[params]"), "bank-jit.toml")
    return preset.replace(params={**preset.params, "similarity_skip": 0.98})


def _render(preset: PresetConfig, backend, frames: int) -> list[np.ndarray]:  # noqa: ANN001
    out = CollectFrames()
    render_offline(preset, frames=frames, outputs=[out], backend=backend)
    return [f.image for f in out.frames]


def test_live_changes_compile_nothing_new_and_match_eager() -> None:
    preset = _preset()
    eager = _render(preset, load_backend(preset.model), 8)
    compiled = load_backend(preset.with_overrides(compile="jit").model)
    _render(preset, compiled, 2)  # compiles the graphs: text to image, then img2img (the encoder)
    with dynamo_window() as window:
        found = _render(preset, compiled, 8)
    assert (window.recompiles, window.graph_breaks) == (0, 0)
    for a, b in zip(eager, found, strict=True):
        diff = np.abs(a.astype(int) - b.astype(int))
        assert diff.max() <= 3 and diff.mean() < 0.5, (diff.max(), diff.mean())
    assert not np.array_equal(eager[1], eager[3])  # the schedule did change the picture
