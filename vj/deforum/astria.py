"""Astria prompt files → a Deforum settings dict.

Astria's text format: optional `key=schedule` lines (Deforum names, `|` may join several on
one line), then `frame: prompt` lines; the last prompt marks the end frame and is not
rendered. With no camera key, Astria's default 3D camera applies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from vj.errors import ConfigError

ASTRIA_DEFAULT_CAMERA: Mapping[str, str] = {
    "translation_z": "0:(-0.5)", "rotation_3d_x": "0:(2*sin(3.14*t/100)/80)",
    "rotation_3d_y": "0:(2*sin(3.14*t/100)/40)", "rotation_3d_z": "0:(2*sin(3.14*t/50)/40)",
}
ASTRIA_CAMERA_KEYS = ("translation_x", "translation_y", "translation_z", "rotation_3d_x", "rotation_3d_y",
                      "rotation_3d_z", "zoom", "angle")
PROMPT_LINE = re.compile(r"^\s*(\d+)\s*:\s*(.*)$")
_PARAM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def parse_astria(text: str, source: str) -> dict[str, Any]:
    """Astria text → a Deforum settings dict (3D with the default camera unless one is given)."""
    settings: dict[str, Any] = {}
    prompts: list[tuple[int, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = PROMPT_LINE.match(line)
        if m and not _PARAM.match(line):
            if m.group(2).strip() == "":
                raise ConfigError(source, f"line {lineno}", "'frame: prompt'", line)
            prompts.append((int(m.group(1)), m.group(2).strip()))
            continue
        if prompts:
            raise ConfigError(source, f"line {lineno}", "'frame: prompt' (parameters come before the prompts)", line)
        for chunk in _split_params(stripped):
            pm = _PARAM.match(chunk)
            if not pm:
                raise ConfigError(source, f"line {lineno}", "'key=schedule' or 'frame: prompt'", chunk)
            key, value = pm.group(1), pm.group(2).strip()
            settings[key] = _astria_value(value)
    if len(prompts) < 2:
        raise ConfigError(source, "prompts", "at least two 'frame: prompt' lines (the last marks the end)",
                          f"{len(prompts)} prompt line(s)")
    frames = [f for f, _ in prompts]
    if frames != sorted(set(frames)):
        raise ConfigError(source, "prompts", "prompt frames in increasing order", frames)
    settings["max_frames"] = frames[-1]  # the last prompt marks the end and is not rendered
    settings["prompts"] = {str(f): p for f, p in prompts[:-1]}
    settings.setdefault("animation_mode", "3D")
    if not any(k in settings for k in ASTRIA_CAMERA_KEYS):
        settings.update(ASTRIA_DEFAULT_CAMERA)
    return settings


def _split_params(line: str) -> list[str]:
    """`a=0:(1)|b=0:(2)` → two chunks; a `|` inside parentheses stays."""
    chunks, depth, start = [], 0, 0
    for i, ch in enumerate(line):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "|" and depth == 0:
            chunks.append(line[start:i])
            start = i + 1
    chunks.append(line[start:])
    return [c.strip() for c in chunks if c.strip()]


def _astria_value(value: str) -> Any:
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d*\.\d+(?:[eE][+-]?\d+)?", value):
        return float(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value
