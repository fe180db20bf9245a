"""The coherence tests' tiny renders: the test preset with an input clip and parameters, rendered offline."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import TINY_PRESET
from tests.helpers import CollectFrames
from vj.config import PresetConfig, parse_preset
from vj.frames import Frame
from vj.session import render_offline


def preset_with(source: Path | None, **params: object) -> PresetConfig:
    """The tiny test preset, reading `source` as its input clip when given, with `params` over its own."""
    extra = f'[input]\nsource = "{source}"\n' if source is not None else ""
    preset = parse_preset(TINY_PRESET + extra, "coherence-test.toml")
    return preset.replace(params={**preset.params, **params})


def render(preset: PresetConfig, backend, frames: int) -> list[Frame]:  # noqa: ANN001
    """`frames` frames of `preset` rendered offline on `backend`."""
    sink = CollectFrames()
    render_offline(preset, frames=frames, outputs=[sink], backend=backend)
    return sink.frames
