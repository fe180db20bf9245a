"""The preset the loop benchmarks render: one prompt, a slow zoom and turn, half denoise.

Shared by loop.py (tiny model, CPU) and gpu_loop.py (sd-turbo architecture), so both time the
same picture. Imports only vj.config: gpu_loop.py must start where diffusers is not installed.
"""

from __future__ import annotations

from vj.config import PresetConfig, parse_preset

PROMPT = "an endless tunnel of neon arches, volumetric light"


def loop_preset(size: int, steps: int, source: str, guidance: float | None = None) -> PresetConfig:
    """A size x size preset at `steps` steps; `guidance` unset leaves the preset's default."""
    guidance_line = f"guidance = {guidance}\n" if guidance is not None else ""
    return parse_preset(f"""
[render]
width = {size}
height = {size}
[[prompts.mix]]
text = "{PROMPT}"
[params]
zoom = 1.02
angle = 0.5
strength = 0.5
steps = {steps}
{guidance_line}noise = 0.03
""", source)
