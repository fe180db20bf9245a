"""Shared fixtures; hardware-marked tests skip themselves with a reason."""

from __future__ import annotations

import os

import pytest
import torch

from vj.config import PresetConfig, parse_preset


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import tensorrt  # noqa: F401
        has_trt = True
    except ImportError:
        has_trt = False
    reasons = {
        "gpu": None if torch.cuda.is_available() else "needs a CUDA GPU",
        "tensorrt": None if has_trt else "needs TensorRT",
        "slow": None if os.environ.get("VJ_RUN_SLOW") == "1" else "slow: set VJ_RUN_SLOW=1",
        # No fixture can tell whether a MIDI controller, a camera or a display is really plugged in and
        # meant for tests, so the person who has one says so.
        "hardware": None if os.environ.get("VJ_RUN_HARDWARE") == "1"
        else "needs a MIDI device, /dev/video* or a display: set VJ_RUN_HARDWARE=1",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def tiny_backend():  # noqa: ANN201
    from vj.config import ModelConfig
    from vj.engine.backends import load_backend

    return load_backend(ModelConfig(source="tiny", device="cpu"))


TINY_PRESET = """
[preset]
name = "test"
[model]
source = "tiny"
device = "cpu"
[render]
width = 64
height = 64
fps = 24
[prompts]
negative = "blurry"
[[prompts.mix]]
text = "a tunnel of neon light"
[params]
zoom = 1.04
angle = 2.0
strength = 0.55
noise = 0.05
"""


@pytest.fixture()
def tiny_preset() -> PresetConfig:
    return parse_preset(TINY_PRESET, "tiny.toml")
