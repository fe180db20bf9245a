"""Wiring the outside pictures: the checked `[input]` table → a running source + the engine's inputs."""

from __future__ import annotations

from vj.config import PresetConfig
from vj.engine.input_stage import ColourAnchor, EngineInputs
from vj.input.open import CheckedInputs, InputSource, check_inputs, open_source


def build_inputs(preset: PresetConfig, checked: CheckedInputs | None, *, offline: bool,
                 start_index: int = 0) -> tuple[InputSource | None, EngineInputs | None]:
    """The source to start and close with the show, and what the engine reads (None: nothing to read)."""
    config = preset.input
    checked = checked if checked is not None else check_inputs(config, offline=offline)
    source = open_source(config, checked, offline=offline, fps=preset.render.fps, start_index=start_index)
    anchor = ColourAnchor(config.color_anchor)
    if source is None and checked.init_image is None and anchor is ColourAnchor.FRAME:
        return None, None
    inputs = EngineInputs(frames=source, init_image=checked.init_image, init_strength=config.init_strength,
                          colour_anchor=anchor, anchor_image=checked.color_image)
    return source, inputs
